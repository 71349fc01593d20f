"""Commit run: merge the run's fragments into bottles_hash.json and write the dated run record."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from bottlesync.commit import commit_run
from bottlesync.config import Settings
from bottlesync.events import commit_output, run_id_of
from bottlesync.storage import open_storage

logger, metrics, tracer = Logger(), Metrics(), Tracer()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run_id = run_id_of(event, "commit_run")
    settings = Settings.from_env(os.environ)
    storage = open_storage(settings.dest)
    output = commit_output(commit_run(storage, run_id, public_url=settings.public_url), storage)
    metrics.add_metric(name="BottlesCommitted", unit=MetricUnit.Count, value=output["mirrored"])
    metrics.add_metric(name="RunFailures", unit=MetricUnit.Count, value=output["failures_total"])
    logger.info("committed", extra={k: output[k] for k in ("run_id", "mirrored", "failed")})
    return output
