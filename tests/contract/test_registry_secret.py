"""template.yaml: the registry token comes from a Secrets Manager secret, granted only to the
stages that fetch from the registry, and only when the parameter is set."""

from __future__ import annotations

import json
from typing import Any

READERS = ("PlanSyncFunction", "MirrorBatchFunction", "TaskRole")


def _mentions(node: Any, needle: str) -> bool:
    """True when `needle` appears anywhere in the node."""
    return needle in json.dumps(node)


def test_the_parameter_is_optional(template: dict[str, Any]) -> None:
    """GIVEN the template THEN RegistryTokenSecretArn defaults to empty (anonymous token)."""
    assert template["Parameters"]["RegistryTokenSecretArn"]["Default"] == ""
    condition = template["Conditions"]["HasRegistryTokenSecret"]
    assert _mentions(condition, "RegistryTokenSecretArn")


def test_only_the_readers_are_granted_and_only_when_set(template: dict[str, Any]) -> None:
    """GIVEN the resources THEN GetSecretValue on the token secret sits, behind the condition, on
    Plan sync, Mirror batch and the task role, and nowhere else."""
    resources = template["Resources"]
    for name, resource in resources.items():
        policies = resource.get("Properties", {}).get("Policies", [])
        grants = [p for p in policies if _mentions(p, "RegistryTokenSecretArn")]
        if name not in READERS:
            assert grants == [], name
            continue
        assert len(grants) == 1, name
        branch = grants[0]["Fn::If"]
        assert branch[0] == "HasRegistryTokenSecret" and branch[2] == {"Ref": "AWS::NoValue"}
        assert "secretsmanager:GetSecretValue" in json.dumps(branch[1])


def test_the_edges_get_the_arn_never_the_token(template: dict[str, Any]) -> None:
    """GIVEN the functions' and the container's environment THEN they name the secret's ARN and
    no BOTTLESYNC_REGISTRY_TOKEN variable exists anywhere."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["REGISTRY_TOKEN_SECRET_ARN"] == {"Ref": "RegistryTokenSecretArn"}
    container = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert {"Name": "REGISTRY_TOKEN_SECRET_ARN",
            "Value": {"Ref": "RegistryTokenSecretArn"}} in container["Environment"]
    assert not _mentions(template, "BOTTLESYNC_REGISTRY_TOKEN")
