"""functions/prune: the scheduled event in, old unnamed bottles gone from S3, counts out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import boto3
import pytest

from bottlesync.errors import InvalidInput, PruneRefused
from bottlesync.manifest import MANIFEST_KEY, commit_entries
from bottlesync.storage import S3Storage
from tests.fakes.aws import BUCKET, REGION, load_event, read_object
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

Invoke = Callable[[str, Any], Any]
OLD = "wget-1.20.0.arm64_sequoia.bottle.tar.gz"


def _synced_mirror(invoke: Invoke) -> S3Storage:
    """wget synced through the handlers, plus an old wget bottle synced in 2020."""
    plan = invoke("plan_sync", {"formulae": ["wget"]})
    items = json.loads(read_object(plan["plan_key"]) or b"[]")
    shared = {k: plan[k] for k in ("run_id", "base", "layout")}
    invoke("mirror_batch", {"Items": items, "BatchInput": shared})
    invoke("commit_run", {"run_id": plan["run_id"]})
    storage = S3Storage(BUCKET, client=boto3.client("s3", region_name=REGION))
    data = b"old bottle"
    sha = hashlib.sha256(data).hexdigest()
    storage.put_verified(f"bottles/{OLD}", [data], sha)
    commit_entries(storage, {OLD: {"sha256": sha, "size": len(data), "key": f"bottles/{OLD}",
                                   "synced_at": "2020-01-01T00:00:00Z", "run_id": "old"}},
                   now="2020-01-01T00:00:00Z")
    return storage


def test_scheduled_prune_deletes_the_old_bottle_and_keeps_current_ones(invoke: Invoke) -> None:
    """GIVEN events/prune.json (apply) WHEN invoked THEN the old bottle and its entry are gone,
    every current bottle stays, and the output is small counts."""
    storage = _synced_mirror(invoke)
    out = invoke("prune", load_event("prune"))
    assert out == {"applied": True, "bottles": 1, "indexes": 0, "kept": 0,
                   "keys": [f"bottles/{OLD}"]}
    assert read_object(f"bottles/{OLD}") is None
    bottles = json.loads(read_object(MANIFEST_KEY) or b"{}")["bottles"]
    assert OLD not in bottles and len(bottles) == 9
    assert all(storage.stored_sha256(e["key"]) == e["sha256"] for e in bottles.values())


def test_without_apply_it_only_reports(invoke: Invoke) -> None:
    """GIVEN an event without apply THEN nothing is deleted."""
    _synced_mirror(invoke)
    out = invoke("prune", {"older_than_days": 30})
    assert out["applied"] is False and out["keys"] == [f"bottles/{OLD}"]
    assert read_object(f"bottles/{OLD}") == b"old bottle"


def test_keep_versions_from_the_environment(invoke: Invoke,
                                            function_env: Callable[..., None]) -> None:
    """GIVEN PRUNE_KEEP_VERSIONS=1 (the template parameter) THEN the one old version stays."""
    _synced_mirror(invoke)
    function_env(PRUNE_KEEP_VERSIONS="1")
    out = invoke("prune", {"apply": True})
    assert (out["bottles"], out["kept"]) == (0, 1)
    assert read_object(f"bottles/{OLD}") == b"old bottle"


def test_an_empty_catalogue_refuses(invoke: Invoke, function_env: Callable[..., None],
                                    make_homebrew: Callable[[Sequence[FakeFormula]],
                                                            FakeHomebrew]) -> None:
    """GIVEN upstream serving an empty catalogue THEN the function raises PruneRefused."""
    _synced_mirror(invoke)
    function_env(BOTTLESYNC_SOURCE=make_homebrew([]).source_url)
    with pytest.raises(PruneRefused):
        invoke("prune", load_event("prune"))
    assert read_object(f"bottles/{OLD}") == b"old bottle"


def test_a_bad_event_names_the_keys(invoke: Invoke) -> None:
    """GIVEN keep_versions that is not a number THEN InvalidInput, nothing read or deleted."""
    with pytest.raises(InvalidInput, match="keep_versions"):
        invoke("prune", {"keep_versions": "many"})


def test_older_than_days_from_the_environment(invoke: Invoke,
                                              function_env: Callable[..., None]) -> None:
    """GIVEN PRUNE_OLDER_THAN_DAYS longer than the old bottle's age THEN it stays."""
    _synced_mirror(invoke)
    function_env(PRUNE_OLDER_THAN_DAYS="100000")
    out = invoke("prune", {"apply": True})
    assert (out["bottles"], out["kept"]) == (0, 1)
    assert read_object(f"bottles/{OLD}") == b"old bottle"
