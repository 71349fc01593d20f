"""README's "Operating" runbook is true to the template and to config.yaml."""

from __future__ import annotations

import re
from typing import Any

from bottlesync.config import load_config
from tests.contract.conftest import ROOT

# alarm name suffix -> the words of its README row that state config.yaml's threshold
THRESHOLDS = {"sync-success-rate": ("success_rate_min", "under {} %"),
              "sync-duration": ("duration_minutes", "over {} min"),
              "stalled-syncs": ("stalled_syncs", "{} syncs in a row"),
              "error-rate": ("error_rate_max", "over {} %"),
              "lambda-duration": ("lambda_duration_percent", "over {} %"),
              "ecs-task-success-rate": ("ecs_success_rate_min", "under {} %"),
              "s3-upload-success-rate": ("upload_success_rate_min", "under {} %"),
              "cost-per-sync": ("cost_max_usd", "over ${}")}


def operating() -> str:
    """The README's Operating section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Operating\n", 1)[1].split("\n## ", 1)[0]


def alarm_rows() -> dict[str, str]:
    """alarm name suffix -> its row of the runbook's alarm table."""
    rows: dict[str, str] = {}
    for line in operating().splitlines():
        first = line.split("|")[1] if line.startswith("| `") else ""
        for name in re.findall(r"`([a-z0-9-]+)`", first):
            rows[name] = line
    return rows


def test_the_runbook_lists_every_alarm_the_template_creates(translated: dict[str, Any]) -> None:
    """Each named alarm of the stack has a row (meaning and action) in the runbook."""
    names = {r["Properties"]["AlarmName"]["Fn::Sub"].removeprefix("${AWS::StackName}-")
             for r in translated.values()
             if r["Type"] == "AWS::CloudWatch::Alarm" and "AlarmName" in r["Properties"]}
    assert names <= set(alarm_rows())
    assert "each function's error-rate alarm" in alarm_rows()["rollback-bottle-failure-rate"]


def test_the_runbook_thresholds_are_config_yaml_s() -> None:
    """The defaults the table states are the thresholds every shipped environment sets."""
    config = load_config(str(ROOT / "config.yaml"))
    rows = alarm_rows()
    for env in config.environments:
        alarms = config.environment(env)["alarms"]
        for name, (key, words) in THRESHOLDS.items():
            assert words.format(f"{alarms[key]:g}") in rows[name], (env, name)
        rollback = alarms["rollback"]
        row = rows["rollback-storage-error-rate"]
        assert (f"bottle failures over {rollback['bottle_failure_rate']:g} %" in row
                and f"storage errors over {rollback['storage_error_rate']:g} %" in row
                and f"errors over {rollback['function_error_rate']:g} %" in row)


def test_the_routing_table_matches_the_topics(translated: dict[str, Any]) -> None:
    """The severity table names the topics the template creates."""
    topics = {r["Properties"]["TopicName"]["Fn::Sub"].replace("${AWS::StackName}", "<stack>")
              for r in translated.values() if r["Type"] == "AWS::SNS::Topic"}
    for topic in topics:
        assert f"`{topic}`" in operating()
