"""WeeklyDigestFunction: a weekly schedule, reading only runs/ and publishing only to the low
topic (issue 9's "low: weekly cost summary -> e-mail digest")."""

from __future__ import annotations

from typing import Any

from tests.contract.conftest import ROOT


def statements(translated: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of the function's role, both branches of a conditional one."""
    role = translated["WeeklyDigestFunctionRole"]["Properties"]
    return [branch for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]
            for branch in (s["Fn::If"][1:] if "Fn::If" in s else [s])
            if branch != {"Ref": "AWS::NoValue"}]


def test_a_weekly_schedule_sends_the_digest_event(translated: dict[str, Any]) -> None:
    """Mondays 08:00 UTC, with the event the handler accepts, to the function's alias."""
    rule = translated["WeeklyDigestFunctionWeekly"]["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 8 ? * MON *)"
    assert rule["Targets"][0]["Input"] == '{"digest": "weekly"}'
    assert (ROOT / "events" / "weekly_digest.json").read_text().strip() == '{"digest": "weekly"}'
    assert (ROOT / "functions" / "weekly_digest" / "app.py").is_file()
    variables = translated["WeeklyDigestFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["LOW_TOPIC_ARN"] == {"Ref": "LowTopic"}


def test_it_may_read_only_run_records_and_publish_only_to_the_low_topic(
        translated: dict[str, Any]) -> None:
    """Least privilege: GetObject on runs/*, ListBucket only under runs/, sns:Publish on the low
    topic, the environment's key when UseKms; nothing else."""
    by_action: dict[str, list[Any]] = {}
    for statement in statements(translated):
        actions = statement["Action"]
        for action in actions if isinstance(actions, list) else [actions]:
            by_action.setdefault(action, []).append(statement)
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket", "sns:Publish",
                              "kms:Decrypt", "kms:GenerateDataKey"}
    [get] = by_action["s3:GetObject"]
    assert get["Resource"] == {"Fn::Sub": "${MirrorBucket.Arn}/runs/*"}
    [listing] = by_action["s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "runs/*"}}
    [publish] = by_action["sns:Publish"]
    assert "LowTopic" in str(publish["Resource"]) and "AlertTopic" not in str(publish["Resource"])
    [kms] = by_action["kms:Decrypt"]
    assert kms["Resource"] == {"Fn::GetAtt": ["KmsKey", "Arn"]}
    assert any("UseKms" in str(s) for s in translated["WeeklyDigestFunctionRole"]["Properties"][
        "Policies"])


def test_a_failed_digest_raises_an_alarm_and_checkov_knows_why(template: dict[str, Any],
                                                               translated: dict[str, Any]
                                                               ) -> None:
    """The errors alarm names the function; the checkov skips carry reasons like the others."""
    alarm = translated["WeeklyDigestErrorsAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "FunctionName",
                                    "Value": {"Ref": "WeeklyDigestFunction"}}]
    assert alarm["AlarmActions"] == [{"Ref": "MediumTopic"}]
    skips = {s["id"] for s in template["Resources"]["WeeklyDigestFunction"]["Metadata"][
        "checkov"]["skip"]}
    assert skips == {"CKV_AWS_116", "CKV_AWS_173", "CKV_AWS_115"}
