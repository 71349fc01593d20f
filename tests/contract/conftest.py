"""Fixtures for the seam checks: the shipped template, its SAM translation and the ASL."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachine" / "mirror.asl.json"
LOCAL_URIS = ("CodeUri", "ContentUri", "DefinitionUri")


class _NoManagedPolicies:
    """Stub for the IAM lookup samtranslator makes for managed policy names (offline)."""

    def load(self) -> dict[str, str]:
        """No names to resolve: the template only uses ARNs and SAM policy templates."""
        return {}


def load_template() -> dict[str, Any]:
    """template.yaml as data (short-form !Ref/!Sub tags become Ref/Fn::Sub)."""
    return dict(yaml_parse(TEMPLATE.read_text(encoding="utf-8")))


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation that `sam deploy` would create, translated offline."""
    data = copy.deepcopy(template)
    for resource in data["Resources"].values():
        props = resource.get("Properties", {})
        for key in LOCAL_URIS:
            if isinstance(props.get(key), str):
                props[key] = "s3://artifacts/" + props[key].strip("/")
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        return dict(transform(data, {}, _NoManagedPolicies()))
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def walk_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, nested Map/Parallel ones included, as (name, definition)."""
    for name, state in states.items():
        yield name, state
        for branch in [state.get("ItemProcessor"), state.get("Iterator"),
                       *state.get("Branches", [])]:
            if branch:
                yield from walk_states(branch["States"])


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """The source template."""
    return load_template()


@pytest.fixture(scope="session")
def translated(template: dict[str, Any]) -> dict[str, Any]:
    """The translated template's resources."""
    return translate(template)["Resources"]


@pytest.fixture(scope="session")
def asl() -> dict[str, Any]:
    """The shipped state machine definition."""
    return dict(json.loads(ASL.read_text(encoding="utf-8")))

def iam_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement below `node`, inside Fn::If branches too."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from iam_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from iam_statements(value)


def as_list(value: Any) -> list[Any]:
    """IAM accepts a string or a list for Action and Resource."""
    return value if isinstance(value, list) else [value]
