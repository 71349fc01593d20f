"""Fixtures for the posture checks: the shipped template and its SAM translation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.conftest import load_template, translate


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """The source template."""
    return load_template()


@pytest.fixture(scope="session")
def translated(template: dict[str, Any]) -> dict[str, Any]:
    """The translated template's resources."""
    return translate(template)["Resources"]
