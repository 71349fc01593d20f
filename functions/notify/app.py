"""Notify: Slack summary (or the error), SNS e-mail when critical, sync outcome metrics."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from bottlesync.events import HandlerConfig
from bottlesync.notify import FAILED, Notifier, notify

logger, metrics, tracer = Logger(), Metrics(), Tracer()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = notify(event, Notifier.from_config(HandlerConfig.from_env(os.environ)))
    failed_run = isinstance(event, dict) and "error" in event
    metrics.add_metric(name="SyncFailed" if failed_run else "SyncSucceeded",
                       unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CriticalRuns", unit=MetricUnit.Count, value=int(outcome["critical"]))
    metrics.add_metric(name="SlackFailures", unit=MetricUnit.Count,
                       value=int(outcome["slack"] == FAILED))
    logger.info("notified", extra=outcome)
    return outcome
