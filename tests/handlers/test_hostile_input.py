"""GIVEN hostile upstream input THEN the handlers report it and return; the Lambda never fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.homebrew import FakeHomebrew

Invoke = Callable[[str, Any], Any]


def test_plan_sync_reports_a_malformed_url_instead_of_crashing(
        function_env: Callable[..., None], invoke: Invoke, homebrew: FakeHomebrew) -> None:
    """GIVEN one catalogue entry whose URL urllib rejects THEN Plan sync returns (the Lambda does
    not fail) with that entry counted invalid and every other bottle planned."""
    entry = next(e for e in homebrew.catalogue if e["name"] == "jq")
    stable = entry["bottle"]["stable"]
    stable["root_url"] = "http://[::1/v2/homebrew/core"
    for info in stable["files"].values():
        info["url"] = f"http://[::1/v2/homebrew/core/jq/blobs/sha256:{info['sha256']}"
    out = invoke("plan_sync", {})
    assert out["invalid"] == 1
    assert out["planned"] > 0
