"""Operating the stack, on the SAM-translated template: one alarm per KPI with its configured
threshold and severity topic, the dashboard in step with the metrics the code emits, the
per-environment rollouts, names that never collide between stacks, and tags."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shlex
import tomllib
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from bottlesync.config import load_config
from bottlesync.handler_metrics import UNITS
from tests.contract.conftest import LOCAL_URIS, ROOT, _NoManagedPolicies, load_template

ENVS = ("dev", "staging", "prod")
# KPI row -> (alarms, the config.yaml key of its threshold (None: fixed), topic)
KPI_ALARMS = {
    "sync success rate": ({"SyncSuccessRateAlarm": "success_rate_min",
                           "SyncExecutionsFailedAlarm": None}, "AlertTopic"),
    "sync duration": ({"SyncDurationAlarm": "duration_minutes"}, "AlertTopic"),
    "bottles processed per sync": ({"StalledSyncsAlarm": "stalled_syncs"}, "AlertTopic"),
    "error rate": ({"ErrorRateAlarm": "error_rate_max"}, "AlertTopic"),
    "Lambda duration": ({"LambdaDurationAlarm": "lambda_duration_percent"}, "MediumTopic"),
    "ECS task success rate": ({"EcsTaskSuccessRateAlarm": "ecs_success_rate_min"},
                              "AlertTopic"),
    "S3 upload success rate": ({"UploadSuccessRateAlarm": "upload_success_rate_min"},
                               "AlertTopic"),
    "cost per sync": ({"CostPerSyncAlarm": "cost_max_usd"}, "MediumTopic"),
}
ROLLBACK_ALARMS = {"BottleFailureRateRollbackAlarm": "bottle_failure_rate",
                   "StorageErrorRateRollbackAlarm": "storage_error_rate",
                   "PlanSyncErrorsAlarm": "function_error_rate"}
PHYSICAL_NAMES = ("Name", "FunctionName", "TopicName", "LogGroupName", "DashboardName",
                  "AlarmName", "RoleName", "StateMachineName", "RepositoryName", "ClusterName",
                  "Family", "BucketName", "QueueName", "DeploymentConfigName", "SecretName",
                  "LayerName", "ScheduleName", "RuleName", "KeyAlias", "AliasName")
SCOPED = {"AWS::Lambda::Alias", "AWS::StepFunctions::StateMachineAlias",
          "AWS::CodeDeploy::DeploymentGroup"}  # names unique only inside their parent


def overrides(env: str) -> dict[str, str]:
    """What `sam deploy --config-env ENV` passes."""
    doc = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    text = doc[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(text))


def translate_for(env: str) -> dict[str, Any]:
    """The translated template with ENV's parameter values (as the SAM transform sees them)."""
    data = load_template()
    for resource in data["Resources"].values():
        props = resource.get("Properties", {})
        for key in LOCAL_URIS:
            if isinstance(props.get(key), str):
                props[key] = "s3://artifacts/" + props[key].strip("/")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return dict(transform(copy.deepcopy(data), overrides(env), _NoManagedPolicies()))


def resolve(value: Any, params: dict[str, str]) -> Any:
    """A parameter Ref as its value for this environment (or the template default)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return params[value["Ref"]]
    return value


def defaults() -> dict[str, str]:
    """Template parameter defaults, as strings."""
    return {k: str(v["Default"]) for k, v in load_template()["Parameters"].items()
            if "Default" in v}


@pytest.mark.parametrize("env", ENVS)
def test_one_alarm_per_kpi_with_its_configured_threshold_and_topic(
        translated: dict[str, Any], env: str) -> None:
    """Every KPI row has its alarm(s); each threshold is config.yaml's value for ENV and the
    alarm notifies the topic of the row's severity."""
    params = {**defaults(), **overrides(env)}
    alarms = load_config(str(ROOT / "config.yaml")).environment(env)["alarms"]
    for row, (ids, topic) in KPI_ALARMS.items():
        for logical_id, key in ids.items():
            props = translated[logical_id]["Properties"]
            assert translated[logical_id]["Type"] == "AWS::CloudWatch::Alarm", row
            assert props["AlarmActions"] == [{"Ref": topic}], row
            if key == "stalled_syncs":  # a count of syncs (days) in a row, each with >= 1
                assert resolve(props["EvaluationPeriods"], params) == str(alarms[key])
                assert resolve(props["DatapointsToAlarm"], params) == str(alarms[key])
            elif key is not None:
                threshold = float(resolve(props["Threshold"], params))
                assert threshold == float(alarms[key]), (row, logical_id)
    for logical_id, key in ROLLBACK_ALARMS.items():
        threshold = resolve(translated[logical_id]["Properties"]["Threshold"], params)
        assert float(threshold) == float(alarms["rollback"][key])
    for critical in ("AllSyncsFailingAlarm", "BucketUnreachableAlarm",
                     "FunctionsTimingOutAlarm"):
        assert translated[critical]["Properties"]["AlarmActions"] == [{"Ref": "CriticalTopic"}]


@pytest.mark.parametrize("alarm", ["LambdaDurationAlarm", "FunctionsTimingOutAlarm"])
def test_lambda_duration_alarm_divides_by_each_timeout(translated: dict[str, Any],
                                                       alarm: str) -> None:
    """Duration ms / (Timeout s * 10) is the percentage of each function's own timeout."""
    props = translated[alarm]["Properties"]
    expression = next(m["Expression"] for m in props["Metrics"] if "Expression" in m)
    divisors = dict(re.findall(r"(\w+) / (\d+)", expression))
    names = {m["Id"]: m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
             for m in props["Metrics"] if "MetricStat" in m}
    for metric_id, function in names.items():
        timeout = translated[function]["Properties"]["Timeout"]
        assert int(divisors[metric_id]) == timeout * 10, function


def emitted_metrics() -> set[str]:
    """Every metric name the Lambda handlers put in the custom namespace (the literals of the
    handlers and of the domain module that shapes their metrics), but for unit names and the
    pre-traffic hook's (a deployment's verdict, not the sync's)."""
    found: set[str] = set()
    sources = [*sorted((ROOT / "functions").glob("*/app.py")),
               ROOT / "src" / "bottlesync" / "handler_metrics.py"]
    for source in sources:
        if source.parent.name == "pre_traffic_hook":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][A-Za-z]*)+", node.value)):
                found.add(node.value)
    return found - set(UNITS) - {"HookFailures"}


def test_dashboard_shows_exactly_the_metrics_the_code_emits(translated: dict[str, Any]
                                                            ) -> None:
    """The dashboard names each custom metric the handlers emit, and nothing they do not."""
    body = translated["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    shown: set[str] = set()
    for widget in widgets:
        namespace = None
        for row in widget["properties"]["metrics"]:
            namespace = row[0] if row[0] != "." else namespace
            if namespace == "HomebrewBottlesSync":
                shown.add(row[1])
    emitted = emitted_metrics()
    assert {"EstimatedCostUSD", "StorageFailures", "SyncFailed", "BottlesMirrored"} <= emitted
    assert shown == emitted
    titles = " ".join(w["properties"]["title"] for w in widgets)
    for part in ("Executions", "duration", "planned / mirrored / failed", "Bytes", "Error rate",
                 "Map run progress", "Lambda errors / throttles", "ECS tasks", "cost"):
        assert part in titles


@pytest.mark.parametrize(("env", "config", "hook", "machine"), [
    ("dev", {"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}",
                         {"ConfigName": "AllAtOnce"}]}, "false", "ALL_AT_ONCE"),
    ("staging", {"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}",
                             {"ConfigName": "AllAtOnce"}]}, "true", "ALL_AT_ONCE"),
    ("prod", "Canary5Percent60Minutes", "true", "CANARY"),
])
def test_rollouts_per_environment(env: str, config: Any, hook: str, machine: str) -> None:
    """dev all at once; staging the PreTraffic hook then all at once; prod the hook, then our
    5 %-for-60-minutes canary (CanaryDeploymentConfig), and the state machine alias shifted."""
    resources = translate_for(env)["Resources"]
    params = overrides(env)
    assert (params["PreTrafficHook"], params["StateMachineDeploymentType"]) == (hook, machine)
    for function in ("PlanSync", "MirrorBatch", "CommitRun", "Notify"):
        group = resources[f"{function}FunctionDeploymentGroup"]["Properties"]
        assert group["DeploymentConfigName"] == {"Fn::If": [
            "UseCanaryConfig", {"Ref": "CanaryDeploymentConfig"}, config]}
        update = resources[f"{function}FunctionAliaslive"]["UpdatePolicy"]
        assert update["CodeDeployLambdaAliasUpdate"]["BeforeAllowTrafficHook"] == {"Fn::If": [
            "HasPreTrafficHook", {"Ref": "PreTrafficHookFunction"}, {"Ref": "AWS::NoValue"}]}
        assert group["TriggerConfigurations"][0]["TriggerTargetArn"] == {"Ref": "LowTopic"}
    canary = resources["CanaryDeploymentConfig"]
    assert canary["Condition"] == "UseCanaryConfig"
    assert canary["Properties"]["TrafficRoutingConfig"]["TimeBasedCanary"] == {
        "CanaryPercentage": 5, "CanaryInterval": 60}
    alias = resources["MirrorStateMachineAliaslive"]["Properties"]["DeploymentPreference"]
    assert alias["Type"] == {"Ref": "StateMachineDeploymentType"}
    assert alias["Percentage"] == {"Fn::If": ["StateMachineCanary", 5, {"Ref": "AWS::NoValue"}]}
    hook_function = resources["PreTrafficHookFunction"]["Properties"]
    assert hook_function["FunctionName"] == {
        "Fn::Sub": "CodeDeployHook_${AWS::StackName}-pre-traffic"}
    assert "PreTrafficHookFunctionDeploymentGroup" not in resources


def test_the_schedule_starts_the_state_machine_alias(translated: dict[str, Any]) -> None:
    """The schedule targets the `live` alias (what shifting moves) and has no fixed name."""
    schedule = translated["MirrorStateMachineSchedule"]["Properties"]
    assert schedule["Target"]["Arn"] == {"Ref": "MirrorStateMachineAliaslive"}
    assert "Name" not in schedule


def test_no_physical_name_collides_between_two_stacks(translated: dict[str, Any]) -> None:
    """Every physical name a resource sets carries the stack's name, so staging and prod can
    share an account and region (aliases and groups are named inside their parent)."""
    for logical_id, resource in translated.items():
        if resource["Type"] in SCOPED:
            continue
        for key in PHYSICAL_NAMES:
            given = resource.get("Properties", {}).get(key)
            if isinstance(given, dict) and set(given) & {"Ref", "Fn::GetAtt"}:
                continue  # names another resource, does not set a name
            if given is not None:
                value = json.dumps(given)
                assert "AWS::StackName" in value, (logical_id, key, value)


@pytest.mark.parametrize("env", ENVS)
def test_every_stack_is_tagged_through_samconfig(env: str) -> None:
    """`sam deploy` passes the four tags; CloudFormation puts stack tags on every resource that
    takes tags (and SAM on the resources it generates)."""
    doc = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    tags = dict(pair.split("=", 1) for pair in shlex.split(
        doc[env]["deploy"]["parameters"]["tags"]))
    config = load_config(str(ROOT / "config.yaml")).environment(env)["tags"]
    assert tags == {k: str(v) for k, v in config.items()}
    assert set(tags) == {"Project", "Environment", "Owner", "CostCenter"}
    assert tags["Environment"] == env


def test_notifications_by_environment() -> None:
    """dev: Slack only; staging: Slack and e-mail; prod: Slack, e-mail (pager optional)."""
    params = {env: overrides(env) for env in ENVS}
    assert all(params[env]["SlackSecretName"] for env in ENVS)
    assert "AlertEmail" not in params["dev"]
    assert params["staging"]["AlertEmail"] and params["prod"]["AlertEmail"]


def email_recipients(translated: dict[str, Any], params: dict[str, str]) -> set[tuple[str, str]]:
    """(topic, address) of every e-mail subscription whose condition holds with `params`."""
    found = set()
    for resource in translated.values():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::SNS::Subscription" or props.get("Protocol") != "email":
            continue
        parameter = props["Endpoint"]["Ref"]
        assert resource["Condition"] == "Has" + parameter  # never an unconditional empty one
        if params.get(parameter, ""):
            found.add((props["TopicArn"]["Ref"], params[parameter]))
    return found


@pytest.mark.parametrize("env", ENVS)
def test_each_recipient_is_subscribed_to_every_email_topic(env: str) -> None:
    """GIVEN an environment's notifications.email (one address or a list) THEN each address has
    exactly one e-mail subscription on each of the alert, critical and low topics."""
    params = {**defaults(), **overrides(env)}
    email = load_config(str(ROOT / "config.yaml")).environment(env).get(
        "notifications", {}).get("email", [])
    addresses = [email] if isinstance(email, str) else email
    topics = {"AlertTopic", "CriticalTopic", "LowTopic"}
    assert email_recipients(translate_for(env)["Resources"], params) == {
        (topic, address) for topic in topics for address in addresses}


def test_prod_mails_two_recipients_and_five_fit(translated: dict[str, Any]) -> None:
    """prod lists two addresses; five addresses give fifteen subscriptions, none unconditional."""
    assert len({a for _, a in email_recipients(translate_for("prod")["Resources"],
                                               {**defaults(), **overrides("prod")})}) == 2
    five = {f"AlertEmail{n}" if n > 1 else "AlertEmail": f"ops{n}@example.com"
            for n in range(1, 6)}
    assert len(email_recipients(translated, five)) == 15


def test_notify_hears_critical_high_and_medium_and_timeouts(translated: dict[str, Any]
                                                            ) -> None:
    """The notify alias is subscribed to three topics and to TIMED_OUT/ABORTED executions."""
    subscribed = {r["Properties"]["TopicArn"]["Ref"] for r in translated.values()
                  if r["Type"] == "AWS::SNS::Subscription"
                  and r["Properties"]["Protocol"] == "lambda"}
    assert subscribed == {"CriticalTopic", "AlertTopic", "MediumTopic"}
    rule = translated["ExecutionStatusRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["status"] == ["TIMED_OUT", "ABORTED"]
    assert rule["EventPattern"]["detail-type"] == ["Step Functions Execution Status Change"]
    names = {r["Properties"]["TopicName"]["Fn::Sub"] for r in translated.values()
             if r["Type"] == "AWS::SNS::Topic"}
    assert {n.rsplit("-", 1)[1] for n in names} == {"critical", "high", "medium", "low"}


def test_the_hook_tries_the_shipped_sample() -> None:
    """The hook's packaged batch is events/mirror_batch.json itself, not a copy."""
    packaged = ROOT / "functions" / "pre_traffic_hook" / "mirror_batch.json"
    assert packaged.resolve() == (ROOT / "events" / "mirror_batch.json").resolve()


def test_the_fargate_task_posts_progress_with_notifys_slack_secret(translated: dict[str, Any]
                                                                   ) -> None:
    """GIVEN the environment's slack_secret (a name) THEN the task gets the same secret as the
    functions, and its role may read that secret by name, so a long run's progress reaches Slack."""
    functions = translated["NotifyFunction"]["Properties"]["Environment"]["Variables"]
    (container,) = translated["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    task_env = {e["Name"]: e["Value"] for e in container["Environment"] if "Name" in e}
    assert task_env["SLACK_SECRET_ARN"] == functions["SLACK_SECRET_ARN"] == {
        "Fn::If": ["HasSlackSecretName", {"Ref": "SlackSecretName"}, {"Ref": "SlackSecretArn"}]}
    grants = [p["Fn::If"] for p in translated["TaskRole"]["Properties"]["Policies"]
              if "Fn::If" in p and p["Fn::If"][0] == "HasSlackSecretName"]
    (statement,) = grants[0][1]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert "${SlackSecretName}-??????" in statement["Resource"]["Fn::Sub"]
