"""PreTraffic hook: the new Plan sync (dry run) and Mirror batch (events/ sample) must behave
before CodeDeploy moves any traffic; the verdict goes back to CodeDeploy."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics

from bottlesync.config import Settings
from bottlesync.handler_metrics import emit, hook_metrics
from bottlesync.pre_traffic import SUCCEEDED, lambda_invoke, run_hook

logger, metrics = Logger(), Metrics()
SAMPLE = Path(__file__).with_name("mirror_batch.json")  # events/mirror_batch.json, as shipped


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    verdict, problems = run_hook(lambda_invoke(boto3.client("lambda")),
                                 os.environ["PLAN_SYNC_VERSION_ARN"],
                                 os.environ["MIRROR_BATCH_VERSION_ARN"],
                                 json.loads(SAMPLE.read_text()),
                                 Settings.from_env(os.environ).dest, datetime.now(UTC))
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"], status=verdict)
    emit(metrics, hook_metrics(verdict == SUCCEEDED))
    logger.info("pre-traffic verdict", extra={"verdict": verdict, "problems": problems})
    return {"verdict": verdict, "problems": problems}
