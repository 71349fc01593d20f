"""Static checks that run inside `make test`: cfn-lint on the template and the ASL, the image."""

from __future__ import annotations

import json
import re
from typing import Any

from cfnlint.api import lint

from tests.contract.conftest import ROOT, TEMPLATE

REGIONS = ["us-east-1", "us-west-2"]
DOCKERFILE = ROOT / "container" / "Dockerfile"


def _wrapped(definition: dict[str, Any], substitutions: list[str]) -> str:
    """The ASL inline in a throwaway AWS::StepFunctions::StateMachine, so rule E3601 reads it."""
    machine = {"Type": "AWS::StepFunctions::StateMachine",
               "Properties": {"RoleArn": "arn:aws:iam::123456789012:role/lint",
                              "Definition": definition,
                              "DefinitionSubstitutions": dict.fromkeys(substitutions, "x")}}
    return json.dumps({"AWSTemplateFormatVersion": "2010-09-09",
                       "Resources": {"Machine": machine}})


def _lint_asl(definition: dict[str, Any], template: dict[str, Any]) -> list[str]:
    """cfn-lint findings for a definition, as 'rule: message' lines."""
    subs = template["Resources"]["MirrorStateMachine"]["Properties"]["DefinitionSubstitutions"]
    matches = lint(_wrapped(definition, sorted(subs)), regions=REGIONS)
    return [f"{m.rule.id}: {m.message}" for m in matches]


def test_cfn_lint_passes_on_the_template() -> None:
    """No cfn-lint error, warning or informational finding on template.yaml."""
    matches = lint(TEMPLATE.read_text(encoding="utf-8"), regions=REGIONS)
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_cfn_lint_passes_on_the_state_machine(asl: dict[str, Any],
                                              template: dict[str, Any]) -> None:
    """The shipped ASL passes E3601 (Step Functions definition schema)."""
    assert _lint_asl(asl, template) == []


def test_cfn_lint_catches_a_broken_state_machine(asl: dict[str, Any],
                                                 template: dict[str, Any]) -> None:
    """The wrapper really lints: a Task without Resource and a bad state Type are reported."""
    broken = json.loads(json.dumps(asl))
    del broken["States"]["Commit run"]["Resource"]
    broken["States"]["Route by size"]["Type"] = "Decide"
    assert any(line.startswith("E3601") for line in _lint_asl(broken, template))


def test_dockerfile_runs_the_batch_entrypoint_as_non_root() -> None:
    """The image installs the project and runs `python -m bottlesync.batch` as a non-root user."""
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    instructions = [line.split(None, 1) for line in lines if re.match(r"^[A-Z]+\s", line)]
    froms = [args for op, args in instructions if op == "FROM"]
    assert froms and all(args.startswith("python:3.12-slim") for args in froms)
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert instructions[-1] == ["ENTRYPOINT", '["python", "-m", "bottlesync.batch"]']
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "pip install --no-cache-dir ." in text
    assert "[dev]" not in text
