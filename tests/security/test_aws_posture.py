"""The translated template's posture, resource by resource (generic: every role, bucket, SG)."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
from typing import Any

import pytest

from tests.contract.conftest import ASL, ROOT, as_list, iam_statements

# Actions whose API takes no resource, so AWS requires "Resource": "*".
STAR_RESOURCE_ACTIONS = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                         "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                         "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                         "logs:DescribeLogGroups"}
WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl", "s3:DeleteObjectVersion"}
RUN_KEYS = ["runs/2026-11-28T03-00-00Z-ab12/plan.json",
            "runs/2026-11-28T03-00-00Z-ab12/results/0001.json", "runs/2026/11/28/r1.json"]
BOTTLE_KEYS = ["bottles/wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz",
               "v2/homebrew/core/wget/blobs/sha256:" + "a" * 64,
               "2026-11-28/wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz"]
INDEX_KEYS = ["bottles/wget/manifests/1.25.0_1-1", "bottles/python/3.12/manifests/3.12.7",
              "v2/homebrew/core/wget/manifests/1.25.0_1", "2026-11-28/wget/manifests/1.25.0_1"]
METADATA_KEYS = ["api/formula.jws.json", "api/internal/packages.arm64_sequoia.jws.json",
                 "status.json", "index.html"]
MANIFEST = "bottles_hash.json"



def _of_type(translated: dict[str, Any], *types: str) -> dict[str, Any]:
    """The resources of the given types, by logical id."""
    return {k: r for k, r in translated.items() if r["Type"] in types}


def _roles(translated: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each role's statements: inline policies plus AWS::IAM::Policy resources attached to it."""
    roles = {k: list(iam_statements(r["Properties"].get("Policies", [])))
             for k, r in _of_type(translated, "AWS::IAM::Role").items()}
    for policy in _of_type(translated, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").values():
        props = policy["Properties"]
        for role in props.get("Roles", []):
            roles[role["Ref"]].extend(iam_statements(props["PolicyDocument"]))
    return roles


def _arn(resource: Any) -> str:
    """An S3 resource ARN with its bucket reference resolved to the bucket's logical id."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return f"arn:aws:s3:::{resource['Fn::GetAtt'][0]}"
    text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
    if isinstance(text, list):
        text = text[0]
    text = re.sub(r"\$\{(\w+)\.Arn\}", r"arn:aws:s3:::\1", str(text))
    return re.sub(r"\$\{AWS::Partition\}", "aws", text)


def _writable(statements: list[dict[str, Any]], bucket: str, key: str) -> bool:
    """Whether any Allow statement lets the role write `key` in the bucket `bucket`."""
    target = f"arn:aws:s3:::{bucket}/{key}"
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        if not set(as_list(statement["Action"])) & WRITE_ACTIONS:
            continue
        if any(fnmatch.fnmatchcase(target, _arn(r)) for r in as_list(statement["Resource"])):
            return True
    return False


def test_no_iam_action_is_a_wildcard(translated: dict[str, Any]) -> None:
    """GIVEN every role and policy THEN no action is `*` or `service:*`, no NotAction."""
    statements = [s for stmts in _roles(translated).values() for s in stmts]
    assert len(statements) > 20
    for statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), statement


def test_star_resource_only_for_actions_that_take_none(translated: dict[str, Any]) -> None:
    """GIVEN an Allow on Resource "*" THEN every action is on the allow-list."""
    for role, statements in _roles(translated).items():
        for statement in statements:
            if statement["Effect"] == "Allow" and "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= STAR_RESOURCE_ACTIONS, role


@pytest.mark.parametrize(("role", "allowed"), [
    ("PlanSyncFunctionRole", RUN_KEYS),
    ("MirrorBatchFunctionRole", RUN_KEYS + BOTTLE_KEYS),
    ("TaskRole", RUN_KEYS + BOTTLE_KEYS),
    ("CommitRunFunctionRole", RUN_KEYS + INDEX_KEYS + METADATA_KEYS + [MANIFEST]),
])
def test_each_role_writes_only_its_prefixes(translated: dict[str, Any], role: str,
                                            allowed: list[str]) -> None:
    """GIVEN a stage's role THEN it may write exactly the keys its stage writes."""
    statements = _roles(translated)[role]
    every = RUN_KEYS + BOTTLE_KEYS + INDEX_KEYS + METADATA_KEYS + [MANIFEST]
    writable = [k for k in every if _writable(statements, "MirrorBucket", k)]
    assert writable == [k for k in every if k in allowed]


def test_commit_run_may_delete_only_the_api_stash(translated: dict[str, Any]) -> None:
    """GIVEN Commit run's role THEN DeleteObject reaches a run's stashed API files (deleted once
    published) and no other key: not the public API, the records, the manifest or a bottle."""
    deletes = [s for s in _roles(translated)["CommitRunFunctionRole"]
               if s["Effect"] == "Allow" and "s3:DeleteObject" in as_list(s["Action"])]
    stash = "runs/20261201T030000Z-0a1b2c3d/api/formula/wget.json"
    every = [stash, *RUN_KEYS, *BOTTLE_KEYS, *INDEX_KEYS, *METADATA_KEYS, MANIFEST]
    assert [k for k in every if _writable(deletes, "MirrorBucket", k)] == [stash]


def test_only_commit_run_and_prune_write_the_manifest(translated: dict[str, Any]) -> None:
    """GIVEN every role in the stack THEN only Commit run can replace bottles_hash.json, and the
    optional weekly prune, which removes the entries of the bottles it deletes (by CAS)."""
    writers = {role for role, statements in _roles(translated).items()
               if _writable(statements, "MirrorBucket", MANIFEST)}
    assert writers == {"CommitRunFunctionRole", "PruneFunctionRole"}
    assert translated["PruneFunction"]["Condition"] == "PruneOnSchedule"


def _policies_of(translated: dict[str, Any], bucket: str) -> list[dict[str, Any]]:
    """The statements of the bucket policies attached to `bucket`."""
    return [branch for p in _of_type(translated, "AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == {"Ref": bucket}
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            for branch in (s["Fn::If"][1:] if "Fn::If" in s else [s])
            if branch != {"Ref": "AWS::NoValue"}]


def test_every_bucket_is_private_encrypted_tls_only_and_logged(translated: dict[str, Any]) -> None:
    """GIVEN every bucket THEN public access blocked, encrypted, non-TLS denied, access logged."""
    buckets = _of_type(translated, "AWS::S3::Bucket")
    assert len(buckets) >= 2
    log_targets = {b["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
                   for b in buckets.values() if "LoggingConfiguration" in b["Properties"]}
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True}, name
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        branches = algorithm["Fn::If"][1:] if isinstance(algorithm, dict) else [algorithm]
        assert set(branches) <= {"AES256", "aws:kms"} and branches, name
        deny = [s for s in _policies_of(translated, name) if s["Effect"] == "Deny"
                and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        assert deny and deny[0]["Principal"] == "*" and deny[0]["Action"] == "s3:*", name
        assert {"Fn::Sub": f"${{{name}.Arn}}/*"} in deny[0]["Resource"], name
        if name in log_targets:
            continue  # the access-log bucket receives the logs; logging itself would loop
        target = props["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
        assert target != name and target in buckets, name


def test_access_log_bucket_accepts_only_s3_logging(translated: dict[str, Any]) -> None:
    """GIVEN the log bucket THEN S3 log delivery from this account may write under mirror/."""
    allows = [s for s in _policies_of(translated, "AccessLogBucket") if s["Effect"] == "Allow"]
    assert allows == [{
        "Sid": "S3ServerAccessLogsOfTheMirrorBucket", "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "${AccessLogBucket.Arn}/mirror/*"},
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]


def test_no_security_group_has_ingress_but_the_endpoints(translated: dict[str, Any]) -> None:
    """GIVEN every SG THEN no ingress, egress 443 (80 only by choice); endpoints: 443 from VPC."""
    assert not _of_type(translated, "AWS::EC2::SecurityGroupIngress")
    endpoint_sgs = {sg["Ref"] for e in _of_type(translated, "AWS::EC2::VPCEndpoint").values()
                    for sg in e["Properties"].get("SecurityGroupIds", [])}
    groups = _of_type(translated, "AWS::EC2::SecurityGroup")
    assert groups
    for name, group in groups.items():
        props = group["Properties"]
        if name in endpoint_sgs:
            (rule,) = props["SecurityGroupIngress"]
            assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
            assert rule["CidrIp"] == {"Ref": "VpcCidr"}
            continue
        assert "SecurityGroupIngress" not in props, name
        ports = {(r["FromPort"], r["ToPort"]) for r in props["SecurityGroupEgress"]}
        assert ports == {(443, 443)}, name
    for name, egress in _of_type(translated, "AWS::EC2::SecurityGroupEgress").items():
        assert (egress["Properties"]["FromPort"], egress.get("Condition")) == (
            80, "AllowHttpOnOwnNetwork"), name


def test_task_gets_a_public_ip_only_in_public_subnets(translated: dict[str, Any]) -> None:
    """GIVEN the Fargate state THEN AssignPublicIp is a substitution: ENABLED only if public."""
    machine = next(r for r in translated.values()
                   if r["Type"] == "AWS::StepFunctions::StateMachine")["Properties"]
    subs = machine["DefinitionSubstitutions"]
    assert subs["AssignPublicIp"] == {"Fn::If": ["UsePublicSubnets", "ENABLED", "DISABLED"]}
    own = subs["SubnetIdsJoined"]["Fn::If"][1]["Fn::If"]
    assert own[0] == "UsePublicSubnets"
    assert own[2] == {"Fn::Join": [",", [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]]}
    vpc = json.loads(ASL.read_text(encoding="utf-8"))["States"]["Mirror on Fargate"][
        "Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert vpc["AssignPublicIp"] == "${AssignPublicIp}"


def test_network_follows_the_environment(translated: dict[str, Any]) -> None:
    """GIVEN the VPC THEN its CIDR, NATs (one, or one per AZ), S3 endpoint and flow logs."""
    assert translated["Vpc"]["Properties"]["CidrBlock"] == {"Ref": "VpcCidr"}
    assert translated["NatGatewayA"]["Condition"] == "HasNat"
    assert translated["NatGatewayB"]["Condition"] == "NatPerAz"
    route_b = translated["PrivateRouteB"]["Properties"]["NatGatewayId"]
    assert route_b == {"Fn::If": ["NatPerAz", {"Ref": "NatGatewayB"}, {"Ref": "NatGatewayA"}]}
    s3 = translated["S3GatewayEndpoint"]["Properties"]
    assert s3["VpcEndpointType"] == "Gateway"
    flow = translated["VpcFlowLog"]["Properties"]
    assert flow["ResourceId"] == {"Ref": "Vpc"} and flow["TrafficType"] == "ALL"
    group = translated[flow["LogGroupName"]["Ref"]]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for name in ("PrivateSubnetA", "PrivateSubnetB"):
        assert "MapPublicIpOnLaunch" not in translated[name]["Properties"]


def test_log_groups_have_retention_deletion_policy_and_the_key(translated: dict[str, Any]) -> None:
    """GIVEN every log group THEN retention, an explicit DeletionPolicy, the env's key if any."""
    groups = _of_type(translated, "AWS::Logs::LogGroup")
    assert len(groups) >= 4
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group["DeletionPolicy"] in ("Delete", "Retain", "Snapshot"), name
        assert group["Properties"]["KmsKeyId"] == {
            "Fn::If": ["UseKms", {"Fn::GetAtt": ["KmsKey", "Arn"]}, {"Ref": "AWS::NoValue"}]}, name


def test_topics_use_the_key_and_alarms_may_publish(translated: dict[str, Any]) -> None:
    """GIVEN the customer key THEN topics use it and CloudWatch alarms may encrypt with it."""
    for name, topic in _of_type(translated, "AWS::SNS::Topic").items():
        assert topic["Properties"]["KmsMasterKeyId"] == {
            "Fn::If": ["UseKms", {"Ref": "KmsKey"}, {"Ref": "AWS::NoValue"}]}, name
    key = translated["KmsKey"]
    assert key["Condition"] == "UseKms" and key["Properties"]["EnableKeyRotation"] is True
    by_sid = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"] if "Sid" in s}
    (cdn,) = [s["Fn::If"] for s in key["Properties"]["KeyPolicy"]["Statement"] if "Fn::If" in s]
    assert cdn[0] == "CdnEnabled" and cdn[1]["Action"] == "kms:Decrypt"
    assert cdn[1]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    alarms = by_sid["CloudWatchAlarmsPublishToEncryptedTopics"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(alarms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    bucket = translated["MirrorBucket"]["Properties"]["BucketEncryption"]
    (rule,) = bucket["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::If"][0] == "UseKms"


def test_every_reader_of_the_bucket_may_use_the_key(translated: dict[str, Any]) -> None:
    """GIVEN a role that reads or writes the bucket THEN it can decrypt with the env's key."""
    for role, statements in _roles(translated).items():
        touches = any(a.startswith("s3:") and a != "s3:ListBucket"
                      and any("MirrorBucket" in json.dumps(r) for r in as_list(s["Resource"]))
                      for s in statements for a in as_list(s["Action"]))
        if touches:
            kms = [s for s in statements if "kms:Decrypt" in as_list(s["Action"])]
            assert kms and kms[0]["Resource"] == {"Fn::GetAtt": ["KmsKey", "Arn"]}, role


def test_mirror_batch_concurrency_is_reserved(translated: dict[str, Any]) -> None:
    """GIVEN Mirror batch THEN its reserved concurrency comes from config (caps ghcr.io load)."""
    props = translated["MirrorBatchFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == {"Ref": "MirrorBatchReservedConcurrency"}


def test_task_runs_an_image_by_digest(template: dict[str, Any]) -> None:
    """GIVEN the task definition THEN its image is the ImageUri parameter: no default, digest."""
    (container,) = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["Image"] == {"Ref": "ImageUri"}
    spec = template["Parameters"]["ImageUri"]
    assert "Default" not in spec
    digest = "123456789012.dkr.ecr.us-east-1.amazonaws.com/homebrew-bottles-sync@sha256:" + "f" * 64
    assert re.fullmatch(spec["AllowedPattern"], digest)
    for tagged in ("123456789012.dkr.ecr.us-east-1.amazonaws.com/homebrew-bottles-sync:latest",
                   "homebrew-bottles-sync@sha256:abc", ""):
        assert not re.fullmatch(spec["AllowedPattern"], tagged)
    assert "latest" not in json.dumps(template["Resources"]["TaskDefinition"])


def test_every_checkov_suppression_gives_a_reason(template: dict[str, Any]) -> None:
    """GIVEN a checkov skip in the template THEN it names the check and says why in words."""
    skips = [(name, s) for name, r in template["Resources"].items()
             for s in r.get("Metadata", {}).get("checkov", {}).get("skip", [])]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_[0-9]+", skip["id"]), name
        assert len(skip["comment"].split()) >= 6, name


def test_checkov_sees_the_suppressions_written_on_sam_functions() -> None:
    """GIVEN infra/translate.py THEN a function's checkov skips survive SAM's expansion."""
    spec = importlib.util.spec_from_file_location("translate", ROOT / "infra" / "translate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    resources = module.translated_with_suppressions()["Resources"]
    skips = {s["id"] for s in resources["PlanSyncFunction"]["Metadata"]["checkov"]["skip"]}
    assert skips == {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_173"}
    assert resources["PlanSyncFunction"]["Type"] == "AWS::Lambda::Function"
