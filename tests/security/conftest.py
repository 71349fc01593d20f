"""Fixtures for the posture checks: the shipped template and its SAM translation (shared with
tests/contract, which defines them)."""

from tests.contract.conftest import template, translated

__all__ = ["template", "translated"]
