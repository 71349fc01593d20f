"""The state machine definition against its seams: template, error classes, handlers, itself."""

from __future__ import annotations

import importlib.util
import inspect
import re
from typing import Any

import pytest

from bottlesync import errors
from tests.contract.conftest import ASL, ROOT, walk_states

PLACEHOLDER_RE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
SERVICE_ERROR_PREFIXES = ("States.", "Lambda.", "ECS.")
LAMBDA_TRANSIENT = {"Lambda.ServiceException", "Lambda.AWSLambdaException",
                    "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}
# state -> (module, substitution) of the serverless contract's naming chain
LAMBDA_STATES = {
    "Plan sync": ("plan_sync", "PlanSyncFunctionArn"),
    "Mirror batch": ("mirror_batch", "MirrorBatchFunctionArn"),
    "Commit run": ("commit_run", "CommitRunFunctionArn"),
    "Notify": ("notify", "NotifyFunctionArn"),
    "Notify failure": ("notify", "NotifyFunctionArn"),
}
ERROR_CLASSES = {name for name, obj in inspect.getmembers(errors, inspect.isclass)
                 if issubclass(obj, errors.BottlesyncError)}


def _all_states(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state by name (names are unique across scopes in this definition)."""
    found = dict(walk_states(asl["States"]))
    assert len(found) == len(list(walk_states(asl["States"]))), "state names must be unique"
    return found


def _retriers(asl: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(state, retrier) for every Retry entry."""
    return [(name, r) for name, s in walk_states(asl["States"]) for r in s.get("Retry", [])]


def _targets(state: dict[str, Any]) -> list[str]:
    """Every state name this state can go to next."""
    out = [state[k] for k in ("Next", "Default") if k in state]
    out += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    return out


def test_placeholders_and_substitutions_are_the_same_set(template: dict[str, Any]) -> None:
    """GIVEN the ASL text WHEN CloudFormation substitutes it THEN nothing is left or unused."""
    used = set(PLACEHOLDER_RE.findall(ASL.read_text(encoding="utf-8")))
    props = template["Resources"]["MirrorStateMachine"]["Properties"]
    assert used == set(props["DefinitionSubstitutions"])
    assert props["DefinitionUri"] == "statemachine/mirror.asl.json"


def test_definition_is_jsonpath_only(asl: dict[str, Any]) -> None:
    """JSONPath everywhere: no JSONata expressions or JSONata-only fields."""
    text = ASL.read_text(encoding="utf-8")
    assert asl["QueryLanguage"] == "JSONPath"
    assert "{%" not in text
    for name, state in walk_states(asl["States"]):
        assert not {"Arguments", "Output", "Assign", "QueryLanguage"} & set(state), name


def test_every_error_name_is_a_real_error(asl: dict[str, Any]) -> None:
    """A Retry/Catch name must be a bottlesync error class (the Lambda errorType) or AWS's."""
    names = {n for _, s in walk_states(asl["States"])
             for rule in s.get("Retry", []) + s.get("Catch", []) for n in rule["ErrorEquals"]}
    unknown = {n for n in names if n not in ERROR_CLASSES and not n.startswith(
        SERVICE_ERROR_PREFIXES)}
    assert not unknown
    assert {"TransientUpstreamError", "ManifestConflict"} <= names


def test_retry_only_named_transient_errors_with_backoff(asl: dict[str, Any]) -> None:
    """Retrying States.ALL would replay digest mismatches and bugs: only named errors retry."""
    retriers = _retriers(asl)
    assert retriers
    allowed = LAMBDA_TRANSIENT | {e.__name__ for e in errors.TRANSIENT_ERRORS} | {
        "ECS.AmazonECSException"}
    for name, retrier in retriers:
        assert set(retrier["ErrorEquals"]) <= allowed, name
        assert retrier["BackoffRate"] >= 2.0, name
        assert retrier["MaxAttempts"] in range(1, 7), name  # bounded: never retry forever


def test_contract_retries(asl: dict[str, Any]) -> None:
    """The retry budget the serverless contract fixes for each transient error."""
    states = _all_states(asl)

    def attempts(state: str, error: str) -> int:
        return next(r["MaxAttempts"] for r in states[state]["Retry"] if error in r["ErrorEquals"])

    assert attempts("Mirror batch", "TransientUpstreamError") == 3
    assert attempts("Commit run", "ManifestConflict") == 5
    assert attempts("Mirror on Fargate", "ECS.AmazonECSException") == 2
    for state in LAMBDA_STATES:
        assert all(attempts(state, e) == 6 for e in LAMBDA_TRANSIENT), state


def test_every_top_level_step_is_caught(asl: dict[str, Any]) -> None:
    """Any failure outside the Map's children ends in Notify failure, then Fail; but a failed
    Fargate task goes to Commit run first (its run record), and Check results fails it."""
    top = asl["States"]
    for name, state in top.items():
        if state["Type"] not in ("Task", "Map"):
            continue
        catch = state.get("Catch")
        assert catch, name
        assert catch[-1]["ErrorEquals"] == ["States.ALL"], name
        expected = {"Notify failure": "Fail", "Mirror on Fargate": "Commit run"}.get(
            name, "Notify failure")
        assert {c["Next"] for c in catch} == {expected}, name
    assert top["Notify failure"]["Next"] == "Fail"
    assert top["Fail"]["Type"] == "Fail"
    assert top["Mirror on Fargate"]["Catch"][-1]["ResultPath"] == "$.plan.task_error"


def test_check_results_fails_with_the_verdicts_error_and_cause(asl: dict[str, Any]) -> None:
    """After Notify, Check results ends FAILED with Commit run's named error and its counts."""
    top = asl["States"]
    assert top["Notify"]["Next"] == "Check results"
    [rule] = top["Check results"]["Choices"]
    assert (rule["Variable"], rule["StringEquals"]) == ("$.report.result", "FAILED")
    failed = top[rule["Next"]]
    assert (failed["Type"], failed["ErrorPath"], failed["CausePath"]) == (
        "Fail", "$.report.error", "$.report.cause")
    assert top[top["Check results"]["Default"]]["Type"] == "Succeed"


def test_every_transition_exists_and_every_state_is_reachable(asl: dict[str, Any]) -> None:
    """No dangling Next and no orphan state, in the top level and in the Map's processor."""
    scopes = [asl] + [s["ItemProcessor"] for _, s in walk_states(asl["States"])
                      if "ItemProcessor" in s]
    for scope in scopes:
        states = scope["States"]
        seen, todo = set(), [scope["StartAt"]]
        while todo:
            name = todo.pop()
            assert name in states, f"transition to a missing state {name!r}"
            if name not in seen:
                seen.add(name)
                todo.extend(_targets(states[name]))
        assert seen == set(states)
        for name, state in states.items():
            ends = state.get("End") or state["Type"] in ("Fail", "Succeed", "Choice")
            assert ends or "Next" in state, name


def test_route_by_size_covers_every_route(asl: dict[str, Any]) -> None:
    """A catalogue not modified since a clean run -> Succeeded (Plan sync wrote the record);
    nothing to fetch -> Commit run (the run record); planned_bytes >= the threshold passed in
    -> Fargate, as numeric comparisons; anything else -> the Map."""
    choice = asl["States"]["Route by size"]
    assert choice["Choices"] == [
        {"Variable": "$.plan.catalogue", "StringEquals": "not modified", "Next": "Succeeded"},
        {"Variable": "$.plan.to_fetch", "NumericEquals": 0, "Next": "Commit run"},
        {"Variable": "$.plan.planned_bytes",
         "NumericGreaterThanEqualsPath": "$.plan.ecs_threshold", "Next": "Mirror on Fargate"}]
    assert choice["Default"] == "Mirror bottles"


def test_plan_fields_used_downstream_are_selected(asl: dict[str, Any]) -> None:
    """Every $.plan.<field> a later state reads is one Plan sync's ResultSelector keeps."""
    selected = {k.removesuffix(".$") for k in asl["States"]["Plan sync"]["ResultSelector"]}
    used = set(re.findall(r"\$\.plan\.([a-z_]+)", ASL.read_text(encoding="utf-8")))
    used.discard("task_error")  # written by the Fargate Catch, read by Commit run
    assert used
    assert used <= selected


def test_distributed_map_reads_and_writes_s3(asl: dict[str, Any]) -> None:
    """The plan stays in S3: ItemReader, ItemBatcher within 256 KB, ResultWriter, no payload."""
    m = asl["States"]["Mirror bottles"]
    assert m["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED",
                                                     "ExecutionType": "STANDARD"}
    assert m["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert m["ItemReader"]["ReaderConfig"]["InputType"] == "JSON"
    assert m["ItemBatcher"]["MaxInputBytesPerBatch"] <= 262144
    assert m["ItemBatcher"]["MaxItemsPerBatchPath"] == "$.plan.max_items_per_batch"
    assert m["MaxConcurrencyPath"] == "$.plan.map_max_concurrency"
    assert m["ToleratedFailurePercentage"] == 100.0
    assert m["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert m["ResultPath"] is None


def test_fargate_task_receives_the_run(asl: dict[str, Any]) -> None:
    """The container learns the run and plan from overrides; the network from substitutions."""
    params = asl["States"]["Mirror on Fargate"]["Parameters"]
    assert asl["States"]["Mirror on Fargate"]["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    (override,) = params["Overrides"]["ContainerOverrides"]
    assert override["Name"] == "${ContainerName}"
    env = {e["Name"]: e["Value.$"] for e in override["Environment"]}
    assert env == {"BOTTLESYNC_RUN_ID": "$.plan.run_id", "BOTTLESYNC_PLAN_KEY": "$.plan.plan_key"}
    vpc = params["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert vpc["Subnets.$"] == "States.StringSplit('${SubnetIdsJoined}', ',')"


@pytest.mark.parametrize(("state", "expected"), sorted(LAMBDA_STATES.items()))
def test_lambda_states_call_their_handler(asl: dict[str, Any], state: str,
                                          expected: tuple[str, str]) -> None:
    """Each Lambda state invokes its contract substitution, whose module defines `handler`."""
    module, substitution = expected
    task = _all_states(asl)[state]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"]["FunctionName"] == f"${{{substitution}}}"
    path = ROOT / "functions" / module / "app.py"
    spec = importlib.util.spec_from_file_location(f"contract_{module}_app", path)
    assert spec is not None and spec.loader is not None, path
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    assert callable(app.handler)
    assert list(inspect.signature(app.handler).parameters)[:2] == ["event", "context"]
