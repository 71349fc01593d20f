"""Plan sync: catalogue minus manifest, sized, routed; the plan goes to S3, counts to the state."""

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from bottlesync.config import Settings
from bottlesync.events import HandlerConfig, PlanSyncRequest, plan_sync_output
from bottlesync.handler_metrics import emit, plan_metrics
from bottlesync.plan_sync import plan_sync
from bottlesync.registry_secret import with_registry_token
from bottlesync.storage import open_storage
from bottlesync.upstream import Upstream

logger, metrics, tracer = Logger(), Metrics(), Tracer()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request, config = PlanSyncRequest.from_event(event), HandlerConfig.from_env(os.environ)
    settings = with_registry_token(request.apply(Settings.from_env(os.environ)), os.environ,
                                   lambda: boto3.client("secretsmanager"))
    storage = open_storage(settings.dest)
    with Upstream(settings) as upstream:
        plan, written = plan_sync(settings, request, storage=storage, upstream=upstream,
                                  now=datetime.now(UTC))
    output = plan_sync_output(plan, written, storage, config)
    emit(metrics, plan_metrics(output))
    logger.info("planned", extra={k: output[k] for k in ("run_id", "planned", "route")})
    return output
