"""Notify: run summaries, caught errors, execution events and alarms to Slack; SNS e-mail when
critical; the sync outcome metrics."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from bottlesync.events import HandlerConfig
from bottlesync.notify import FAILED, Notifier, notify

logger, metrics, tracer = Logger(), Metrics(), Tracer()


def sync_outcome(event: Any) -> str | None:
    """SyncSucceeded or SyncFailed for a run's own message; None for alarms and status events."""
    if not isinstance(event, dict):
        return None
    if "error" in event:
        return "SyncFailed"
    report = event.get("report")
    if isinstance(report, dict):
        return "SyncFailed" if report.get("result") == "FAILED" else "SyncSucceeded"
    return None


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = notify(event, Notifier.from_config(HandlerConfig.from_env(os.environ)))
    name = sync_outcome(event)
    if name is not None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="CriticalRuns", unit=MetricUnit.Count,
                           value=int(outcome["critical"]))
    metrics.add_metric(name="SlackFailures", unit=MetricUnit.Count,
                       value=int(outcome["slack"] == FAILED))
    logger.info("notified", extra=outcome)
    return outcome
