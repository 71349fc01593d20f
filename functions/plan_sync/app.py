"""Plan sync: catalogue minus manifest, sized, routed; the plan goes to S3, counts to the state."""

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from bottlesync.config import Settings
from bottlesync.events import HandlerConfig, PlanSyncRequest, plan_sync_output
from bottlesync.freshness import (
    Fetched,
    fetch_if_changed,
    save_pending,
    unchanged_plan,
    unchanged_run,
)
from bottlesync.plan import build_plan, write_plan
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
    now = datetime.now(UTC)
    with Upstream(settings) as upstream:  # a dry run always plans in full
        fetched = Fetched() if request.dry_run else fetch_if_changed(settings, storage, upstream)
        plan = (unchanged_plan(storage, fetched.unchanged, settings, now) if fetched.unchanged
                else build_plan(settings, upstream=upstream, storage=storage, now=now,
                                catalogue=fetched.catalogue))
    if fetched.unchanged:  # the state machine ends here: its record now, no plan, no commit
        unchanged_run(storage, fetched.unchanged, now, plan.run_id)
    written = plan if plan.unchanged else request.to_write(plan)
    if not plan.unchanged:
        write_plan(storage, written)
    if fetched.validators is not None:
        save_pending(storage, plan.run_id, settings, fetched.validators, plan.selected)
    output = plan_sync_output(plan, written, storage, config)
    for name, key, unit in (("BottlesSelected", "selected", MetricUnit.Count),
                            ("BottlesPlanned", "planned", MetricUnit.Count),
                            ("PlannedBytes", "planned_bytes", MetricUnit.Bytes),
                            ("InvalidEntries", "invalid", MetricUnit.Count)):
        metrics.add_metric(name=name, unit=unit, value=output[key])
    logger.info("planned", extra={k: output[k] for k in ("run_id", "planned", "route")})
    return output
