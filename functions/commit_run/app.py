"""Commit run: merge the run's fragments into bottles_hash.json and write the dated run record."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from bottlesync.commit import commit_run
from bottlesync.config import Settings
from bottlesync.events import commit_output, run_id_of, task_error_of
from bottlesync.freshness import settle_pending
from bottlesync.storage import open_storage

logger, metrics, tracer = Logger(), Metrics(), Tracer()
COUNTS = (("BottlesCommitted", "mirrored"), ("RunFailures", "failures_total"),
          ("StorageFailures", "storage_failures"), ("UpstreamFailures", "upstream_failures"))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run_id, task_error = run_id_of(event, "commit_run"), task_error_of(event, "commit_run")
    settings = Settings.from_env(os.environ)
    storage = open_storage(settings.dest)
    report = commit_run(storage, run_id, max_failure_rate=settings.max_failure_rate,
                        task_error=task_error, public_url=settings.public_url)
    settle_pending(storage, run_id, report)  # the next Plan sync may end on a 304
    output = commit_output(report, storage)
    for name, key in COUNTS:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=output[key])
    if output["route"] == "ecs":  # ECS task success rate: every task, and those that failed
        metrics.add_metric(name="EcsTasks", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="EcsTasksFailed", unit=MetricUnit.Count,
                           value=int(task_error is not None))
    stalled = output["mirrored"] == 0 and output["failures_total"] > output["invalid_entries"]
    metrics.add_metric(name="StalledRuns", unit=MetricUnit.Count, value=int(stalled))
    metrics.add_metric(name="FailureRate", unit=MetricUnit.Percent, value=output["failure_rate"])
    metrics.add_metric(name="EstimatedCostUSD", unit=MetricUnit.NoUnit,
                       value=output["estimated_cost_usd"])
    logger.info("committed", extra={k: output[k] for k in ("run_id", "mirrored", "failed",
                                                            "result", "error")})
    return output
