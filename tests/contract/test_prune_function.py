"""PruneFunction: off unless PruneSchedule=Enabled, weekly, and allowed only what prune does."""

from __future__ import annotations

from typing import Any

from tests.contract.conftest import ROOT

BOTTLE_PREFIXES = {"bottles/*", "v2/homebrew/core/*", "????-??-??/*"}


def _statements(translated: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of the prune function's inline policy."""
    role = translated["PruneFunctionRole"]["Properties"]
    return [branch for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]
            for branch in (s["Fn::If"][1:] if "Fn::If" in s else [s])
            if branch != {"Ref": "AWS::NoValue"}]


def _objects(statement: dict[str, Any]) -> set[str]:
    """Object-key patterns of a statement's `${MirrorBucket.Arn}/<pattern>` resources."""
    resources = statement["Resource"]
    resources = resources if isinstance(resources, list) else [resources]
    return {r["Fn::Sub"].removeprefix("${MirrorBucket.Arn}/") for r in resources
            if isinstance(r, dict) and "Fn::Sub" in r}


def test_prune_is_off_by_default_and_everything_of_it_is_conditional(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    """GIVEN the default parameters THEN no prune resource exists (all carry the condition)."""
    assert template["Parameters"]["PruneSchedule"]["Default"] == "Disabled"
    assert template["Conditions"]["PruneOnSchedule"] == {
        "Fn::Equals": [{"Ref": "PruneSchedule"}, "Enabled"]}
    prune = [k for k in translated if k.startswith("Prune")]
    assert {"PruneFunction", "PruneFunctionRole", "PruneFunctionWeekly", "PruneErrorsAlarm",
            "PruneFunctionAliaslive"} <= set(prune)
    assert all(translated[k].get("Condition") == "PruneOnSchedule" for k in prune), prune


def test_prune_runs_weekly_with_apply_and_the_policy_parameters(
    translated: dict[str, Any]
) -> None:
    """The schedule applies; keep/age come from parameters; the module is functions/prune."""
    rule = translated["PruneFunctionWeekly"]["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 5 ? * SUN *)"
    assert rule["Targets"][0]["Input"] == '{"apply": true}'
    props = translated["PruneFunction"]["Properties"]
    assert props["Environment"]["Variables"]["PRUNE_KEEP_VERSIONS"] == {
        "Ref": "PruneKeepVersions"}
    assert props["Environment"]["Variables"]["PRUNE_OLDER_THAN_DAYS"] == {
        "Ref": "PruneOlderThanDays"}
    assert (ROOT / "functions" / "prune" / "app.py").is_file()
    assert (ROOT / "events" / "prune.json").is_file()


def test_prune_may_delete_only_under_bottle_prefixes_and_write_only_the_manifest(
    translated: dict[str, Any]
) -> None:
    """Least privilege: DeleteObject on the bottle prefixes, PutObject on bottles_hash.json,
    reads of those plus api/, and nothing on runs/ or the whole bucket."""
    by_action: dict[str, set[str]] = {}
    for statement in _statements(translated):
        actions = statement["Action"]
        if statement["Resource"] == {"Fn::GetAtt": ["KmsKey", "Arn"]}:  # the env's key, if on
            assert set(actions) == {"kms:Decrypt", "kms:GenerateDataKey"}
            continue
        for action in actions if isinstance(actions, list) else [actions]:
            by_action.setdefault(action, set()).update(_objects(statement))
    assert by_action["s3:DeleteObject"] == BOTTLE_PREFIXES
    assert by_action["s3:PutObject"] == {"bottles_hash.json"}
    assert by_action["s3:GetObject"] == BOTTLE_PREFIXES | {"bottles_hash.json", "api/*"}
    assert set(by_action) == {"s3:GetObject", "s3:DeleteObject", "s3:PutObject",
                              "s3:ListBucket"}
