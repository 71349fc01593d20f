"""infra/github-oidc.yaml: each environment's deploy role trusts exactly one GitHub token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
OIDC = ROOT / "infra" / "github-oidc.yaml"
SUBJECTS = {"dev": "ref:refs/heads/develop", "staging": "environment:staging",
            "prod": "environment:production"}
# The only Resource "*" statement not bound to CloudFormation: ECR's login takes no resource.
STAR_WITHOUT_CFN = {"ecr:GetAuthorizationToken"}


@pytest.fixture(scope="module")
def oidc() -> dict[str, Any]:
    """The bootstrap template as data."""
    return dict(yaml_parse(OIDC.read_text(encoding="utf-8")))


def _role(oidc: dict[str, Any]) -> dict[str, Any]:
    """The one deploy role."""
    (role,) = [r for r in oidc["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    return dict(role["Properties"])


def _sub(template: dict[str, Any], node: Any, env: str) -> str:
    """Evaluate an Fn::Sub (with FindInMap variables) for one environment, owner `o`, repo `r`."""
    text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
    values = {"GitHubOwner": "o", "GitHubRepository": "r"}
    for name, value in dict(variables).items():
        _, _, key = value["Fn::FindInMap"]
        values[name] = template["Mappings"]["Environments"][env][key]
    return re.sub(r"\$\{([\w:]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


@pytest.mark.parametrize(("env", "subject"), sorted(SUBJECTS.items()))
def test_trust_is_exact_per_environment(oidc: dict[str, Any], env: str, subject: str) -> None:
    """GIVEN an environment THEN only its token (exact sub, aud sts) may assume the role."""
    (statement,) = _role(oidc)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"]["Fn::Sub"].endswith(
        ":oidc-provider/token.actions.githubusercontent.com")
    assert list(statement["Condition"]) == ["StringEquals"]  # no StringLike wildcards
    condition = statement["Condition"]["StringEquals"]
    assert set(condition) == {"token.actions.githubusercontent.com:aud",
                              "token.actions.githubusercontent.com:sub"}
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    sub = _sub(oidc, condition["token.actions.githubusercontent.com:sub"], env)
    assert sub == f"repo:o/r:{subject}"


def test_environments_are_exactly_the_three(oidc: dict[str, Any]) -> None:
    """GIVEN the mapping THEN dev, staging, prod, each with its own stack."""
    envs = oidc["Mappings"]["Environments"]
    assert {e: v["Subject"] for e, v in envs.items()} == SUBJECTS
    assert oidc["Parameters"]["Environment"]["AllowedValues"] == ["dev", "staging", "prod"]
    assert {v["StackName"] for v in envs.values()} == {
        f"homebrew-bottles-sync-{e}" for e in SUBJECTS}


def test_provider_audience_is_sts(oidc: dict[str, Any]) -> None:
    """GIVEN the provider THEN GitHub's issuer and the sts audience only."""
    props = oidc["Resources"]["GitHubOidcProvider"]["Properties"]
    assert props["Url"] == "https://token.actions.githubusercontent.com"
    assert props["ClientIdList"] == ["sts.amazonaws.com"]


def test_permissions_have_no_wildcard_action_and_stay_in_the_stack(oidc: dict[str, Any]) -> None:
    """GIVEN the role's policy THEN no `*` action; "*" resources only via CloudFormation here."""
    statements = [s for p in _role(oidc)["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) \
            else [statement["Action"]]
        assert all("*" not in a for a in actions), statement["Sid"]
        assert statement["Effect"] == "Allow"
        if statement["Resource"] == "*" and set(actions) - STAR_WITHOUT_CFN:
            condition = statement["Condition"]
            assert condition["ForAnyValue:StringEquals"] == {
                "aws:CalledVia": "cloudformation.amazonaws.com"}, statement["Sid"]
            assert condition["StringEquals"] == {"aws:RequestedRegion": {"Ref": "AWS::Region"}}
        elif statement["Resource"] == "*":
            assert set(actions) <= STAR_WITHOUT_CFN


def test_stack_and_roles_are_the_environments_own(oidc: dict[str, Any]) -> None:
    """GIVEN the CloudFormation and IAM statements THEN they name this environment's stack."""
    by_sid = {s["Sid"]: s for p in _role(oidc)["Policies"]
              for s in p["PolicyDocument"]["Statement"]}
    stacks = [_sub(oidc, r, "staging") for r in by_sid["OwnStack"]["Resource"]]
    assert stacks[0].endswith(":stack/homebrew-bottles-sync-staging/*")
    assert all(":stack/" in s or ":transform/" in s for s in stacks)
    roles = _sub(oidc, by_sid["StackRolesThroughCloudFormation"]["Resource"], "staging")
    assert roles.endswith(":role/homebrew-bottles-sync-staging-*")
    smoke = _sub(oidc, by_sid["SmokeTest"]["Resource"], "prod")
    assert smoke.endswith(":stateMachine:homebrew-bottles-sync-prod-mirror")


def test_image_repository_is_immutable_and_scanned(oidc: dict[str, Any]) -> None:
    """GIVEN the ECR repository THEN tags are immutable and every push is scanned."""
    props = oidc["Resources"]["ImageRepository"]["Properties"]
    assert props["ImageTagMutability"] == "IMMUTABLE"
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
