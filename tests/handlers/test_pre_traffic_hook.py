"""The PreTraffic hook's checks against the real Plan sync and Mirror batch handlers: what it
sends them is accepted, and a misbehaving version fails the deployment."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bottlesync.pre_traffic import FAILED, SUCCEEDED, run_hook
from tests.fakes.aws import BUCKET, REGION, LambdaContext, list_keys, load_event, load_handler
from tests.handlers.test_sample_events import samples

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
ARNS = {"plan": "arn:aws:lambda:us-east-1:123456789012:function:PlanSyncFunction:7",
        "batch": "arn:aws:lambda:us-east-1:123456789012:function:MirrorBatchFunction:7"}


def real_versions(broken: str | None = None) -> Any:
    """Invoke the real handlers in-process (as Lambda would the new versions); `broken`
    names one whose output loses a key the state machine reads."""
    handlers = {ARNS["plan"]: load_handler("plan_sync"),
                ARNS["batch"]: load_handler("mirror_batch")}

    def invoke(arn: str, event: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        try:
            output = handlers[arn](event, LambdaContext(arn.split(":")[6]))
        except Exception as exc:  # Lambda's Unhandled error
            return None, f"Unhandled: {type(exc).__name__}: {exc}"
        if arn == broken:
            output.pop("failed", None)
            output.pop("to_fetch", None)
        return output, None

    return invoke


def test_new_versions_that_behave_pass(invoke: Any, offline: None) -> None:
    """GIVEN the real handlers WHEN the hook runs THEN the dry-run plan and the sample batch are
    accepted (the batch aimed at this bucket), nothing is planned for fetching, Succeeded."""
    verdict, problems = run_hook(real_versions(), ARNS["plan"], ARNS["batch"],
                                 load_event("mirror_batch"), f"s3://{BUCKET}", NOW)
    assert (verdict, problems) == (SUCCEEDED, [])
    assert list_keys("bottles/") == []  # a dry run and the offline sample store no bottle


def test_a_version_that_drops_a_key_the_asl_reads_fails(invoke: Any, offline: None) -> None:
    """GIVEN a Mirror batch version whose output lacks `failed` THEN Failed, naming it."""
    verdict, problems = run_hook(real_versions(broken=ARNS["batch"]), ARNS["plan"],
                                 ARNS["batch"], load_event("mirror_batch"), f"s3://{BUCKET}", NOW)
    assert verdict == FAILED and problems == ["Mirror batch: output lacks failed"]


def test_a_version_that_raises_fails(invoke: Any, offline: None) -> None:
    """GIVEN the batch aimed at another bucket (the new version refuses it) THEN Failed with
    the function's error."""
    verdict, problems = run_hook(real_versions(), ARNS["plan"], ARNS["batch"],
                                 load_event("mirror_batch"), "s3://another-bucket", NOW)
    assert verdict == FAILED
    assert problems[0].startswith("Mirror batch: Unhandled: InvalidInput")


def test_the_hook_sample_is_documented_for_sam_local() -> None:
    """The hook's own event shape is in events/ like every other function's."""
    event = load_event("pre_traffic_hook")
    assert set(event) == {"DeploymentId", "LifecycleEventHookExecutionId"}
    assert samples("PreTrafficHookFunction") == ["pre_traffic_hook"]


@pytest.mark.parametrize(("broken", "status"), [(None, SUCCEEDED), (ARNS["batch"], FAILED)])
def test_the_adapter_reports_the_verdict_to_codedeploy(invoke: Any, offline: None,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       broken: str | None, status: str) -> None:
    """GIVEN events/pre_traffic_hook.json as shipped WHEN the hook tries the new versions THEN
    CodeDeploy hears the verdict for that deployment and hook execution (the request checked
    against CodeDeploy's API model; moto has no PutLifecycleEventHookExecutionStatus)."""
    handler = load_handler("pre_traffic_hook")
    event = load_event("pre_traffic_hook")
    codedeploy = boto3.client("codedeploy", region_name=REGION)
    stub = Stubber(codedeploy)
    stub.add_response("put_lifecycle_event_hook_execution_status",
                      {"lifecycleEventHookExecutionId": event["LifecycleEventHookExecutionId"]},
                      {"deploymentId": event["DeploymentId"], "status": status,
                       "lifecycleEventHookExecutionId": event["LifecycleEventHookExecutionId"]})
    clients = {"codedeploy": codedeploy}
    module = inspect.unwrap(handler).__globals__  # the adapter's own names, under Powertools
    monkeypatch.setitem(module, "boto3",
                        SimpleNamespace(client=lambda name, **_: clients.get(name)))
    monkeypatch.setitem(module, "lambda_invoke", lambda _: real_versions(broken))
    monkeypatch.setenv("PLAN_SYNC_VERSION_ARN", ARNS["plan"])
    monkeypatch.setenv("MIRROR_BATCH_VERSION_ARN", ARNS["batch"])
    with stub:
        out = handler(event, LambdaContext("PreTrafficHookFunction"))
    stub.assert_no_pending_responses()
    assert out["verdict"] == status and bool(out["problems"]) == (status == FAILED)
