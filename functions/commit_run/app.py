"""Commit run: merge the run's fragments into bottles_hash.json and write the dated run record."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from bottlesync.commit import commit_run
from bottlesync.config import Settings
from bottlesync.events import commit_output, run_id_of, task_error_of
from bottlesync.freshness import settle_pending
from bottlesync.handler_metrics import commit_metrics, emit
from bottlesync.storage import open_storage

logger, metrics, tracer = Logger(), Metrics(), Tracer()


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
    emit(metrics, commit_metrics(output, task_error))
    logger.info("committed", extra={k: output[k] for k in ("run_id", "mirrored", "failed",
                                                            "result", "error")})
    return output
