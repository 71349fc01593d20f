"""Weekly digest: the last seven days' runs and estimated cost, e-mailed through the low topic."""

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer

from bottlesync.config import Settings
from bottlesync.storage import open_storage
from bottlesync.weekly_digest import check_request, digest_message, publish_digest, weekly_digest

logger, tracer = Logger(), Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    check_request(event)
    digest = weekly_digest(open_storage(Settings.from_env(os.environ).dest), datetime.now(UTC))
    message = digest_message(digest, os.environ["STACK_NAME"])
    message_id = publish_digest(boto3.client("sns"), os.environ["LOW_TOPIC_ARN"], message)
    output = {"runs": digest.runs, "estimated_cost_usd": round(digest.cost_usd, 6),
              "message_id": message_id}
    logger.info("weekly digest sent", extra=output)
    return output
