"""Commit run: fragments merged into the manifest, failures reported, dated record, replayable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bottlesync.bottle import PlanItem
from bottlesync.commit import commit_run, record_key
from bottlesync.errors import Failure, InvalidInput
from bottlesync.manifest import MANIFEST_KEY, load_manifest
from bottlesync.mirror import ADOPTED, FAILED, MIRRORED, BottleResult
from bottlesync.plan import Plan, results_prefix, write_plan
from bottlesync.storage import LocalStorage
from tests.unit.conftest import make_bottle, make_item

RUN_ID = "20261128T030000Z-0a1b2c3d"
NOW = datetime(2026, 11, 28, 3, 5, 0, tzinfo=UTC)
ITEMS = [make_item(make_bottle(name=n), size=s) for n, s in (("wget", 100), ("jq", 200),
                                                             ("tree", 300))]


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    """A mirror holding the plan of RUN_ID (three items, one invalid catalogue entry)."""
    storage = LocalStorage(tmp_path)
    plan = Plan(run_id=RUN_ID, created_at="2026-11-28T03:00:00Z", source="src", base=str(tmp_path),
                layout="bottle-domain", selected=5, present=2, items=list(ITEMS),
                invalid=[Failure("bad", "InvalidEntry", "src entry 9 ('bad'): name")],
                threshold=1 << 30)
    write_plan(storage, plan)
    return storage


def result(item: PlanItem, status: str, **kw: Any) -> dict[str, Any]:
    """A fragment result for `item`."""
    ok = status != FAILED
    return BottleResult(file=item.bottle.file, key=item.key, sha256=item.bottle.sha256,
                        status=status, size=item.size or 0 if ok else 0,
                        downloaded=item.size or 0 if status == MIRRORED else 0,
                        synced_at="2026-11-28T03:01:00Z" if ok else None,
                        error=None if ok else "UpstreamError",
                        message=None if ok else f"{item.bottle.file}: HTTP 404", **kw).to_dict()


def fragment(store: LocalStorage, name: str, *results: dict[str, Any]) -> None:
    """Write one batch's result fragment."""
    doc = {"run_id": RUN_ID, "batch": name, "results": list(results)}
    store.put_bytes(f"{results_prefix(RUN_ID)}{name}.json", json.dumps(doc).encode())


def test_commit_writes_manifest_entries_and_report(store: LocalStorage) -> None:
    """GIVEN one mirrored, one adopted, one failed THEN two entries with the contract fields;
    the adopted one (already verified under its key) counts as present, not mirrored."""
    wget, jq, tree = ITEMS
    fragment(store, "b1", result(wget, MIRRORED), result(jq, ADOPTED))
    fragment(store, "b2", result(tree, FAILED))
    report = commit_run(store, RUN_ID, now=NOW, sleep=lambda _: None)
    manifest, _ = load_manifest(store)
    assert manifest.bottles[wget.bottle.file] == {
        "sha256": wget.bottle.sha256, "size": 100, "key": wget.key,
        "synced_at": "2026-11-28T03:01:00Z", "run_id": RUN_ID}
    assert sorted(manifest.bottles) == sorted([wget.bottle.file, jq.bottle.file])
    assert manifest.updated_at == "2026-11-28T03:05:00Z"
    assert report.to_json() == {
        "run_id": RUN_ID, "selected": 5, "present": 3, "seeded": 0, "mirrored": 1, "failed": 2,
        "planned_bytes": 600, "bytes": 100, "route": "lambda",
        "failures": [{"bottle": "bad", "error": "InvalidEntry",
                      "message": "src entry 9 ('bad'): name"},
                     {"bottle": tree.bottle.file, "error": "UpstreamError",
                      "message": f"{tree.bottle.file}: HTTP 404"}]}
    assert report.exit_code == 1
    record = json.loads(store.get(record_key(RUN_ID)).data)  # type: ignore[union-attr]
    assert (record["mirrored"], record["adopted"], record["copied"]) == (1, 1, 0)


def test_items_without_result_are_no_result_failures(store: LocalStorage) -> None:
    """GIVEN a batch that never reported THEN its items fail as NoResult (never silently ok)."""
    fragment(store, "b1", result(ITEMS[0], MIRRORED))
    report = commit_run(store, RUN_ID, now=NOW)
    missing = [f for f in report.failures if f.error == "NoResult"]
    assert [f.bottle for f in missing] == [ITEMS[1].bottle.file, ITEMS[2].bottle.file]
    assert "no worker reported a result" in missing[0].message


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_success_beats_failure_across_fragments(store: LocalStorage,
                                                order: tuple[str, str]) -> None:
    """GIVEN a failed batch replayed successfully THEN the bottle counts as mirrored either way."""
    failed_name, ok_name = order
    fragment(store, failed_name, *(result(i, FAILED) for i in ITEMS))
    fragment(store, ok_name, *(result(i, MIRRORED) for i in ITEMS))
    report = commit_run(store, RUN_ID, now=NOW)
    assert report.mirrored == 3
    assert [f.error for f in report.failures] == ["InvalidEntry"]


def test_result_with_another_sha_is_not_committed(store: LocalStorage) -> None:
    """GIVEN a result whose sha256 is not the plan's THEN no manifest entry for it."""
    fragment(store, "b1", {**result(ITEMS[0], MIRRORED), "sha256": "f" * 64})
    report = commit_run(store, RUN_ID, now=NOW)
    assert report.mirrored == 0
    [failure] = [f for f in report.failures if f.bottle == ITEMS[0].bottle.file]
    assert failure.error == "DigestMismatch"
    assert f"result sha256 {'f' * 64} is not the plan's" in failure.message
    assert load_manifest(store)[0].bottles == {}


def test_run_record_is_dated(store: LocalStorage, tmp_path: Path) -> None:
    """GIVEN a commit THEN runs/YYYY/MM/DD/<run_id>.json says what was planned, added, failed."""
    fragment(store, "b1", result(ITEMS[0], MIRRORED), result(ITEMS[1], FAILED))
    commit_run(store, RUN_ID, now=NOW)
    assert record_key(RUN_ID) == f"runs/2026/11/28/{RUN_ID}.json"
    record = json.loads((tmp_path / record_key(RUN_ID)).read_bytes())
    assert record["planned"] == 3
    assert record["planned_items"] == [i.bottle.file for i in ITEMS]
    assert record["added"] == [ITEMS[0].bottle.file]
    assert record["failed"] == 3  # jq failed, tree had no result, one invalid entry
    assert record["finished_at"] == "2026-11-28T03:05:00Z"
    assert record["run_id"] == RUN_ID and record["layout"] == "bottle-domain"


def test_commit_is_idempotent(store: LocalStorage, tmp_path: Path) -> None:
    """GIVEN a commit replayed THEN the same report, the same entries, the same record."""
    fragment(store, "b1", *(result(i, MIRRORED) for i in ITEMS))
    first = commit_run(store, RUN_ID, now=NOW)
    entries = load_manifest(store)[0].bottles
    record = (tmp_path / record_key(RUN_ID)).read_bytes()
    second = commit_run(store, RUN_ID, now=NOW)
    assert second.to_json() == first.to_json()
    assert load_manifest(store)[0].bottles == entries
    assert (tmp_path / record_key(RUN_ID)).read_bytes() == record
    assert [k for k in store.list("runs/") if k.startswith("runs/2026/")] == [record_key(RUN_ID)]


def test_commit_keeps_entries_of_earlier_runs(store: LocalStorage) -> None:
    """GIVEN a manifest from an earlier run THEN its entries survive this commit."""
    from bottlesync.manifest import commit_entries

    old = "old-1.0.sonoma.bottle.tar.gz"
    older = {old: {"sha256": "e" * 64, "size": 1, "key": f"bottles/{old}",
                   "synced_at": "t", "run_id": "older"}}
    commit_entries(store, older, now="t")
    fragment(store, "b1", result(ITEMS[0], MIRRORED))
    commit_run(store, RUN_ID, now=NOW)
    assert old in load_manifest(store)[0].bottles


@pytest.mark.parametrize(("content", "needle"), [
    (b"[]", "is not a result fragment"), (b'{"results": 3}', "is not a result fragment"),
    (b"{oops", "is not JSON"),
])
def test_broken_fragment_is_invalid_input(store: LocalStorage, content: bytes,
                                          needle: str) -> None:
    """GIVEN a fragment that is not ours THEN InvalidInput names it (and nothing is committed)."""
    store.put_bytes(f"{results_prefix(RUN_ID)}junk.json", content)
    with pytest.raises(InvalidInput, match=needle):
        commit_run(store, RUN_ID, now=NOW)
    assert store.get(MANIFEST_KEY) is None


def test_commit_refuses_bad_run_ids_and_missing_plans(tmp_path: Path) -> None:
    """GIVEN a bad run id or a run without a plan THEN InvalidInput."""
    store = LocalStorage(tmp_path)
    with pytest.raises(InvalidInput, match="run_id"):
        commit_run(store, "../../x", now=NOW)
    with pytest.raises(InvalidInput, match="does not exist"):
        commit_run(store, RUN_ID, now=NOW)
