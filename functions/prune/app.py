"""Prune: the weekly clean-up of old bottles nothing names (deployed only when scheduled)."""

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from bottlesync.config import Settings
from bottlesync.handler_metrics import emit, prune_metrics
from bottlesync.prune import PruneRequest, run_prune
from bottlesync.storage import open_storage
from bottlesync.upstream import Upstream

logger, metrics, tracer = Logger(), Metrics(), Tracer()
MAX_KEYS = 20  # the output stays small; the full list is in the logs


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PruneRequest.from_event(event, os.environ)
    settings = Settings.from_env(os.environ)
    with Upstream(settings) as upstream:
        plan = run_prune(settings, request, storage=open_storage(settings.dest),
                         upstream=upstream, now=datetime.now(UTC))
    emit(metrics, prune_metrics(request.apply, len(plan.bottles)))
    logger.info("pruned" if request.apply else "prune dry run", extra={"keys": plan.keys})
    return {"applied": request.apply, "bottles": len(plan.bottles), "indexes": len(plan.indexes),
            "kept": len(plan.kept), "keys": plan.keys[:MAX_KEYS]}
