"""The Lambda path of the API mirror: Plan sync stashes the verified files, Commit run publishes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.aws import list_keys, read_object
from tests.fakes.homebrew import FakeHomebrew
from tests.fakes.signing import new_key, write_public_pem

Invoke = Callable[[str, Any], Any]


@pytest.fixture
def signed_env(homebrew: FakeHomebrew, function_env: Callable[..., None],
               tmp_path: Path) -> FakeHomebrew:
    """The fake signs its API with a test key; the functions trust that key, source is signed."""
    key = new_key()
    homebrew.api_key = key
    function_env(BOTTLESYNC_SOURCE=homebrew.source_url.replace("formula.json", "formula.jws.json"),
                 BOTTLESYNC_API_PUBLIC_KEY=str(write_public_pem(key, tmp_path / "k.pem")))
    return homebrew


def plan_and_mirror(invoke: Invoke) -> dict[str, Any]:
    """Plan sync, then one Mirror batch over every item, as the Map would."""
    plan = invoke("plan_sync", {"formulae": ["wget"]})
    items = json.loads(read_object(plan["plan_key"]) or b"[]")
    invoke("mirror_batch", {"Items": items, "BatchInput": {k: plan[k] for k in
                                                          ("run_id", "base", "layout")}})
    return dict(plan)


def test_plan_stashes_and_commit_publishes(invoke: Invoke, signed_env: FakeHomebrew) -> None:
    """GIVEN a good run THEN nothing under api/ before Commit run, byte-identical files after."""
    plan = plan_and_mirror(invoke)
    stashed = list_keys(f"runs/{plan['run_id']}/api/")
    assert f"runs/{plan['run_id']}/api/formula.jws.json" in stashed
    assert list_keys("api/") == []
    out = invoke("commit_run", {"run_id": plan["run_id"]})
    assert out["failed"] == 0
    published = list_keys("api/")
    assert len(published) == len(stashed)
    for key in published:
        assert read_object(key) == signed_env.api_file(key.removeprefix("api/"))
    assert "api/formula/wget.json" in published and "api/formula/jq.json" not in published
    assert list_keys(f"runs/{plan['run_id']}/api/") == []  # the stash goes once published
    replay = invoke("commit_run", {"run_id": plan["run_id"]})
    record = json.loads(read_object(replay["record_key"]) or b"{}")
    assert (record["api_published"], record["api_held"]) == (0, None)
    assert list_keys("api/") == published


def test_a_failed_bottle_holds_the_api_back(invoke: Invoke, signed_env: FakeHomebrew) -> None:
    """GIVEN a bottle that fails transiently THEN Commit run publishes no API file and the run
    record says why."""
    signed_env.fault("status", signed_env.sha256("wget", "x86_64_linux"), times=-1, code=503)
    plan = plan_and_mirror(invoke)
    out = invoke("commit_run", {"run_id": plan["run_id"]})
    assert out["failed"] == 1
    assert list_keys("api/") == []
    record = json.loads(read_object(out["record_key"]) or b"{}")
    assert "wget-1.25.0_1.x86_64_linux.bottle.1.tar.gz" in record["api_held"]


def test_a_dry_run_stashes_nothing(invoke: Invoke, signed_env: FakeHomebrew) -> None:
    """GIVEN a dry run THEN no API file is fetched or stashed, so Commit run publishes none."""
    plan = invoke("plan_sync", {"dry_run": True})
    invoke("commit_run", {"run_id": plan["run_id"]})
    assert list_keys(f"runs/{plan['run_id']}/api/") == [] and list_keys("api/") == []
    assert [r.path for r in signed_env.requests if r.path.startswith("/api/")] == [
        "/api/formula.jws.json"]
