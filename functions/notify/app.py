"""Notify: run summaries, caught errors, execution events and alarms to Slack; SNS e-mail when
critical; the sync outcome metrics."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from bottlesync.events import HandlerConfig
from bottlesync.handler_metrics import emit, notify_metrics
from bottlesync.notify import Notifier, notify

logger, metrics, tracer = Logger(), Metrics(), Tracer()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = notify(event, Notifier.from_config(HandlerConfig.from_env(os.environ)))
    emit(metrics, notify_metrics(event, outcome))
    logger.info("notified", extra=outcome)
    return outcome
