"""Mirror batch: the Distributed Map's item processor; results go to a fragment, counts back."""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from bottlesync.config import Settings
from bottlesync.events import BatchInput
from bottlesync.handler_metrics import emit, mirror_metrics
from bottlesync.mirror import mirror_items
from bottlesync.registry_secret import with_registry_token
from bottlesync.storage import open_storage
from bottlesync.upstream import Upstream

logger, metrics, tracer = Logger(), Metrics(), Tracer()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = with_registry_token(Settings.from_env(os.environ), os.environ,
                                   lambda: boto3.client("secretsmanager"))
    storage = open_storage(settings.dest)
    batch = BatchInput.from_event(event, base=storage.base)
    with Upstream(settings) as upstream:
        report = mirror_items(batch.items, storage=storage, upstream=upstream,
                              run_id=batch.run_id, concurrency=settings.concurrency)
    output = report.to_event()
    emit(metrics, mirror_metrics(output))
    logger.info("batch done", extra=output)
    return output
