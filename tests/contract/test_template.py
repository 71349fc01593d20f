"""template.yaml, translated by SAM offline, against the contract and its own parameters."""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest

from bottlesync.config import load_config
from bottlesync.deploy import deploy_overrides, render_samconfig
from tests.contract.conftest import ROOT, as_list, iam_statements

FUNCTIONS = {"PlanSyncFunction": "plan_sync", "MirrorBatchFunction": "mirror_batch",
             "CommitRunFunction": "commit_run", "NotifyFunction": "notify"}
FUNCTION_ENV = {"BOTTLESYNC_DEST", "BOTTLESYNC_SOURCE", "BOTTLESYNC_TAGS", "BOTTLESYNC_FORMULAE",
                "BOTTLESYNC_LAYOUT", "BOTTLESYNC_ECS_THRESHOLD", "BOTTLESYNC_CONCURRENCY",
                "BOTTLESYNC_ALLOWED_HOSTS", "MAX_ITEMS_PER_BATCH", "MAP_MAX_CONCURRENCY",
                "SLACK_SECRET_ARN", "ALERT_TOPIC_ARN", "CRITICAL_FAILURES",
                "BOTTLESYNC_MAX_FAILURE_RATE",
                "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
# The per-environment sizes: Lambda MB, ECS cpu/memory, lifecycle/log days, deployment.
SIZES = {
    "dev": ("256", "512", "1024", "7", "3", "AllAtOnce"),
    "staging": ("512", "1024", "4096", "30", "14", "AllAtOnce"),  # after the PreTraffic hook
    "prod": ("1024", "2048", "8192", "90", "30", "Canary5Percent60Minutes"),
}
SIZE_PARAMETERS = ("LambdaMemorySize", "EcsCpu", "EcsMemory", "LifecycleDays",
                   "LogRetentionDays", "DeploymentType")
REGIONS = {"dev": "us-west-2", "staging": "us-east-1", "prod": "us-east-1"}
# Actions whose API takes no resource, so AWS requires "Resource": "*".
STAR_RESOURCE_ACTIONS = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                         "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                         "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                         "logs:DescribeLogGroups"}
MANAGED_POLICIES = {"service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess",
                    "service-role/AWSCodeDeployRoleForLambda",
                    "service-role/AmazonECSTaskExecutionRolePolicy",
                    "service-role/AWSLambdaVPCAccessExecutionRole"}



def _iam_resources(translated: dict[str, Any]) -> dict[str, Any]:
    """The roles and policies of the translated template."""
    return {k: r for k, r in translated.items()
            if r["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")}


def _samconfig() -> dict[str, Any]:
    """samconfig.toml as data."""
    return tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))


def _overrides(env: str) -> dict[str, str]:
    """The parameter_overrides `sam deploy --config-env ENV` passes."""
    text = _samconfig()[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(text))


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_has_live_alias_and_deployment_group(translated: dict[str, Any],
                                                      logical_id: str) -> None:
    """GIVEN AutoPublishAlias + DeploymentPreference THEN CodeDeploy shifts the `live` alias."""
    alias = translated[f"{logical_id}Aliaslive"]
    assert alias["Type"] == "AWS::Lambda::Alias"
    assert alias["Properties"]["Name"] == "live"
    group = translated[f"{logical_id}DeploymentGroup"]
    assert group["Type"] == "AWS::CodeDeploy::DeploymentGroup"
    props = group["Properties"]
    assert props["DeploymentConfigName"] == {"Fn::If": [
        "UseCanaryConfig", {"Ref": "CanaryDeploymentConfig"}, {"Ref": "DeploymentType"}]}
    alarm_id = logical_id.removesuffix("Function") + "ErrorsAlarm"
    assert props["AlarmConfiguration"]["Alarms"] == [
        {"Name": {"Ref": "BottleFailureRateRollbackAlarm"}},
        {"Name": {"Ref": "StorageErrorRateRollbackAlarm"}}, {"Name": {"Ref": alarm_id}}]
    assert "DEPLOYMENT_STOP_ON_ALARM" in props["AutoRollbackConfiguration"]["Events"]
    metrics = {m["Id"]: m for m in translated[alarm_id]["Properties"]["Metrics"]}
    assert metrics["rate"]["Expression"] == "100 * errors / MAX([invocations, 1])"
    for stat in ("errors", "invocations"):
        dims = {d["Name"]: d["Value"]
                for d in metrics[stat]["MetricStat"]["Metric"]["Dimensions"]}
        assert dims["Resource"] == {"Fn::Sub": f"${{{logical_id}}}:live"}
    assert translated[alarm_id]["Properties"]["Threshold"] == {"Ref": "RollbackFunctionErrorRate"}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_settings(template: dict[str, Any], translated: dict[str, Any],
                           logical_id: str) -> None:
    """python3.12 on arm64, memory per environment, handler module at the contract path."""
    props = translated[logical_id]["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == {"Ref": "LambdaMemorySize"}
    assert props["Handler"] == "app.handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert set(props["Environment"]["Variables"]) >= FUNCTION_ENV
    code_uri = template["Resources"][logical_id]["Properties"]["CodeUri"]
    assert code_uri == f"functions/{FUNCTIONS[logical_id]}/"
    assert (ROOT / code_uri / "app.py").is_file()
    assert {"Ref": "BottlesyncLayer"} in template["Globals"]["Function"]["Layers"]


def test_mirror_batch_may_run_fifteen_minutes(translated: dict[str, Any]) -> None:
    """A batch of big bottles needs Lambda's whole 900 s."""
    assert translated["MirrorBatchFunction"]["Properties"]["Timeout"] == 900


def test_state_machine_calls_the_live_aliases(translated: dict[str, Any]) -> None:
    """The substitutions resolve to alias ARNs, so traffic shifting covers the workflow."""
    machine = next(r for r in translated.values()
                   if r["Type"] == "AWS::StepFunctions::StateMachine")["Properties"]
    subs = machine["DefinitionSubstitutions"]
    for logical_id in FUNCTIONS:
        assert subs[f"{logical_id}Arn"] == {"Ref": f"{logical_id}Aliaslive"}
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Destinations"]
    schedule = translated["MirrorStateMachineSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}


def test_container_name_matches_the_substitution(template: dict[str, Any]) -> None:
    """The ContainerOverrides name must be the task definition's container."""
    resources = template["Resources"]
    subs = resources["MirrorStateMachine"]["Properties"]["DefinitionSubstitutions"]
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["Name"] == subs["ContainerName"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    env = {e["Name"] for e in container["Environment"] if "Name" in e}
    assert {"BOTTLESYNC_DEST", "BOTTLESYNC_SOURCE", "BOTTLESYNC_TAGS"} <= env


def test_task_definition_sizes_come_from_parameters(template: dict[str, Any]) -> None:
    """Fargate cpu, memory and disk differ per environment."""
    props = template["Resources"]["TaskDefinition"]["Properties"]
    assert props["Cpu"] == {"Ref": "EcsCpu"}
    assert props["Memory"] == {"Ref": "EcsMemory"}
    assert props["EphemeralStorage"] == {"SizeInGiB": {"Ref": "EphemeralStorageGiB"}}
    assert props["RequiresCompatibilities"] == ["FARGATE"]


def test_no_iam_statement_allows_everything(translated: dict[str, Any]) -> None:
    """Least privilege: no "*" action anywhere; "*" resources only where AWS requires them."""
    statements = list(iam_statements(_iam_resources(translated)))
    assert len(statements) > 10
    for statement in statements:
        actions = as_list(statement.get("Action", []))
        assert "NotAction" not in statement
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement
        if statement["Effect"] == "Allow" and "*" in as_list(statement.get("Resource")):
            assert set(actions) <= STAR_RESOURCE_ACTIONS, statement


def test_only_known_managed_policies(translated: dict[str, Any]) -> None:
    """Managed policies are the narrow AWS service-role ones, never broad access."""
    arns = [arn for r in _iam_resources(translated).values()
            for arn in r["Properties"].get("ManagedPolicyArns", [])]
    names = {(a["Fn::Sub"] if isinstance(a, dict) else a).split(":policy/", 1)[1] for a in arns}
    assert names <= MANAGED_POLICIES


def test_state_machine_role_covers_its_integrations(template: dict[str, Any]) -> None:
    """Distributed Map children, ItemReader/ResultWriter, ecs:runTask.sync and its rule."""
    policies = template["Resources"]["MirrorStateMachine"]["Properties"]["Policies"]
    actions = {a for s in iam_statements(policies) for a in as_list(s["Action"])}
    assert {"states:StartExecution", "states:DescribeExecution", "states:StopExecution",
            "s3:GetObject", "s3:PutObject", "ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks",
            "iam:PassRole", "events:PutTargets", "events:PutRule",
            "events:DescribeRule"} <= actions
    invoked = {p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in policies
               if "LambdaInvokePolicy" in p}
    assert invoked == set(FUNCTIONS)


def test_bucket_is_private_encrypted_versioned_and_tls_only(template: dict[str, Any]) -> None:
    """The mirror bucket's guard rails."""
    resources = template["Resources"]
    props = resources["MirrorBucket"]["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    algorithm = sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"]  # per env: UseKmsKey
    assert algorithm == {"Fn::If": ["UseKms", "aws:kms", "AES256"]}
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1
               for r in rules)
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
               == {"Ref": "LifecycleDays"} for r in rules)
    deny = next(s for s in resources["MirrorBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"] if s.get("Sid") == "DenyInsecureTransport")
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_alert_email_is_optional(template: dict[str, Any]) -> None:
    """The e-mail subscription exists only when AlertEmail is set."""
    subscription = template["Resources"]["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def test_samconfig_is_rendered_from_config_yaml() -> None:
    """samconfig.toml is never edited by hand: it equals what `make samconfig` writes."""
    expected = render_samconfig(load_config(str(ROOT / "config.yaml")))
    assert (ROOT / "samconfig.toml").read_text(encoding="utf-8") == expected


@pytest.mark.parametrize("env", sorted(SIZES))
def test_environment_sizes_and_region(env: str) -> None:
    """The issue's per-environment table, as `sam deploy --config-env ENV` sends it."""
    overrides = _overrides(env)
    assert tuple(overrides[name] for name in SIZE_PARAMETERS) == SIZES[env]
    assert _samconfig()[env]["global"]["parameters"]["region"] == REGIONS[env]


@pytest.mark.parametrize("env", sorted(SIZES))
def test_overrides_fit_the_template_parameters(template: dict[str, Any], env: str) -> None:
    """Every override is a declared parameter within its limits; none is left without a value."""
    declared = template["Parameters"]
    # `make deploy` passes samconfig's overrides plus the image digest the build pushed.
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/homebrew-bottles-sync@sha256:" + "0" * 64
    deployed = deploy_overrides(load_config(ROOT / "config.yaml"), env, image)
    overrides = dict(pair.split("=", 1) for pair in shlex.split(deployed))
    assert overrides == {**_overrides(env), "ImageUri": image}
    assert set(overrides) <= set(declared)
    missing = {name for name, spec in declared.items()
               if "Default" not in spec and name not in overrides}
    assert not missing
    for name, value in overrides.items():
        spec = declared[name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], name
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), name
        if spec["Type"] == "Number":
            assert spec.get("MinValue", float("-inf")) <= float(value), name
            assert float(value) <= spec.get("MaxValue", float("inf")), name


def test_layer_requirements_are_the_runtime_dependencies(template: dict[str, Any]) -> None:
    """The layer (built from src/) installs exactly what pyproject says the package needs."""
    layer = template["Resources"]["BottlesyncLayer"]
    assert layer["Properties"]["ContentUri"] == "src/"
    assert layer["Metadata"] == {"BuildMethod": "python3.12", "BuildArchitecture": "arm64"}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lines = (ROOT / "src" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    wanted = [line.split("#", 1)[0].strip() for line in lines]
    assert sorted(w for w in wanted if w) == sorted(pyproject["project"]["dependencies"])
