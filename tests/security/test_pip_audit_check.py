"""`make lint-security`'s pip-audit verdict: an unaudited dependency is never a silent pass."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType

from tests.contract.conftest import ROOT


def _module() -> ModuleType:
    """infra/pip_audit_check.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("pip_audit_check",
                                                  ROOT / "infra" / "pip_audit_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(*deps: dict[str, object]) -> str:
    """pip-audit's JSON format."""
    return json.dumps({"dependencies": list(deps), "fixes": []})


def test_unreachable_database_is_a_warning_not_a_pass() -> None:
    """GIVEN every dependency skipped THEN exit 0 with a WARNING naming them, no 'clean' claim."""
    code, lines = _module().verdict(0, _report(
        {"name": "requests", "version": "2.32.0", "skip_reason": "Dependency not found on PyPI"},
        {"name": "boto3", "version": "1.34.0", "skip_reason": "Dependency not found on PyPI"}),
        "")
    assert code == 0
    assert lines[0].startswith("WARNING: 2 of 2 dependencies could not be audited")
    assert "boto3, requests" in lines[0]
    assert lines[1] == "pip-audit: 0 dependencies audited, no known vulnerability"


def test_a_vulnerability_fails() -> None:
    """GIVEN a known vulnerability THEN exit 1 and the line names package, version and id."""
    code, lines = _module().verdict(1, _report(
        {"name": "urllib3", "version": "1.26.0", "vulns": [{"id": "PYSEC-2023-192"}]},
        {"name": "rich", "version": "13.0.0", "vulns": []}), "")
    assert code == 1
    assert lines == ["urllib3 1.26.0: PYSEC-2023-192"]


def test_a_crash_is_a_warning_with_its_reason() -> None:
    """GIVEN pip-audit dying without a report THEN a WARNING with its last error line."""
    code, lines = _module().verdict(1, "", "Traceback...\nConnectionError: no route to host\n")
    assert code == 0
    assert lines == ["WARNING: pip-audit did not run to the end (ConnectionError: no route to "
                     "host): dependencies NOT audited"]
