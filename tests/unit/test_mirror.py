"""Mirror batch: each bottle streamed and verified, failures isolated, verified copies adopted."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from bottlesync.bottle import PlanItem
from bottlesync.config import Settings
from bottlesync.mirror import (
    ADOPTED,
    FAILED,
    MIRRORED,
    BatchReport,
    BottleResult,
    Progress,
    batch_id,
    mirror_items,
)
from bottlesync.plan import build_plan
from bottlesync.storage import LocalStorage
from bottlesync.upstream import Upstream
from tests.fakes.homebrew import FakeHomebrew
from tests.unit.conftest import make_bottle, make_item

RUN_ID = "20261128T030000Z-0a1b2c3d"
NOW = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)


def plan_items(settings: Settings, upstream: Upstream, store: LocalStorage) -> list[PlanItem]:
    """The items of a fresh plan against the fake."""
    return build_plan(settings, upstream=upstream, storage=store, now=NOW).items


def mirror(items: list[PlanItem], store: LocalStorage, upstream: Upstream,
           progress: Progress | None = None) -> BatchReport:
    """mirror_items for RUN_ID at a fixed time."""
    return mirror_items(items, storage=store, upstream=upstream, run_id=RUN_ID, concurrency=4,
                        progress=progress, clock=lambda: NOW)


class Recorder:
    """A Progress that remembers what it was told (called from worker threads)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def advance(self, nbytes: int) -> None:
        """Count bytes."""
        with self._lock:
            self.bytes += nbytes

    def done(self, result: BottleResult) -> None:
        """Remember the finished file."""
        with self._lock:
            self.finished.append(result.file)


def test_every_bottle_lands_verified(homebrew: FakeHomebrew, settings: Settings,
                                     upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN a plan THEN each bottle is stored with the fake's bytes and reported mirrored."""
    store = LocalStorage(tmp_path / "mirror")
    items = plan_items(settings, upstream, store)
    progress = Recorder()
    report = mirror(items, store, upstream, progress=progress)
    assert [r.file for r in report.results] == [i.bottle.file for i in items]
    assert {r.status for r in report.results} == {MIRRORED}
    for item in items:
        b = item.bottle
        assert (tmp_path / "mirror" / item.key).read_bytes() == homebrew.blob(b.name, b.tag)
    total = sum(i.size or 0 for i in items)
    assert sum(r.downloaded for r in report.results) == total
    assert progress.bytes == total
    assert sorted(progress.finished) == sorted(i.bottle.file for i in items)
    assert report.results[0].synced_at == "2026-11-28T03:00:00Z"
    assert homebrew.auth_leaks == []


def test_one_failing_bottle_does_not_stop_the_others(homebrew: FakeHomebrew, settings: Settings,
                                                     upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN jq's blobs answer 404 THEN jq's bottles fail with UpstreamError, the rest land."""
    store = LocalStorage(tmp_path / "mirror")
    items = plan_items(settings, upstream, store)
    homebrew.fault("status", match="/jq/blobs/", code=404, times=-1)
    report = mirror(items, store, upstream)
    failed = [r for r in report.results if r.status == FAILED]
    assert {r.file.split("-")[0] for r in failed} == {"jq"}
    assert all(r.error == "UpstreamError" and "HTTP 404" in (r.message or "") for r in failed)
    assert all(r.message and r.message.startswith(r.file) for r in failed)
    assert report.count(MIRRORED) == len(items) - len(failed)
    assert not any((tmp_path / "mirror" / r.key).exists() for r in failed)
    event = report.to_event()
    assert (event["mirrored"], event["failed"]) == (len(items) - 2, 2)


def test_corrupt_download_fails_and_is_never_visible(homebrew: FakeHomebrew,
                                                       settings: Settings, upstream: Upstream,
                                                       tmp_path: Path) -> None:
    """GIVEN wrong bytes THEN DigestMismatch (not retried: not transient) and nothing at the key."""
    store = LocalStorage(tmp_path / "mirror")
    items = [i for i in plan_items(settings, upstream, store) if i.bottle.name == "wget"][:1]
    homebrew.fault("wrong_bytes", match="/ghcr1/blobs/", times=-1)
    report = mirror(items, store, upstream)
    [result] = report.results
    assert (result.status, result.error) == (FAILED, "DigestMismatch")
    assert not (tmp_path / "mirror" / items[0].key).exists()


def test_transient_failure_is_retried(homebrew: FakeHomebrew, settings: Settings,
                                      upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN one reset on the blob host THEN the bottle still lands (retried)."""
    store = LocalStorage(tmp_path / "mirror")
    items = plan_items(settings, upstream, store)[:1]
    homebrew.fault("reset", match="/ghcr1/blobs/")
    assert mirror(items, store, upstream).results[0].status == MIRRORED


def test_verified_copy_is_adopted_without_download(homebrew: FakeHomebrew, settings: Settings,
                                                   upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN a bottle already stored with the right bytes THEN no download: adopted."""
    store = LocalStorage(tmp_path / "mirror")
    items = plan_items(settings, upstream, store)
    first = items[0]
    store.put_bytes(first.key, homebrew.blob(first.bottle.name, first.bottle.tag))
    blobs = homebrew.count("blob")
    report = mirror(items, store, upstream)
    assert homebrew.count("blob") - blobs == len(items) - 1
    adopted = report.results[0]
    assert (adopted.status, adopted.downloaded, adopted.size) == (ADOPTED, 0, first.size)
    assert adopted.ok


def test_wrong_stored_copy_is_replaced(homebrew: FakeHomebrew, settings: Settings,
                                       upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN a stored object with wrong bytes under the key THEN it is downloaded and replaced."""
    store = LocalStorage(tmp_path / "mirror")
    item = plan_items(settings, upstream, store)[0]
    store.put_bytes(item.key, b"stale")
    assert mirror([item], store, upstream).results[0].status == MIRRORED
    b = item.bottle
    assert (tmp_path / "mirror" / item.key).read_bytes() == homebrew.blob(b.name, b.tag)


def test_fragment_is_written_for_commit(homebrew: FakeHomebrew, settings: Settings,
                                        upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN a batch THEN runs/<id>/results/<batch>.json holds every result; the event is small."""
    store = LocalStorage(tmp_path / "mirror")
    items = plan_items(settings, upstream, store)[:3]
    report = mirror(items, store, upstream)
    key = f"runs/{RUN_ID}/results/{batch_id(items)}.json"
    assert report.fragment_key == key
    fragment = json.loads((tmp_path / "mirror" / key).read_bytes())
    assert (fragment["run_id"], fragment["batch"]) == (RUN_ID, batch_id(items))
    assert [BottleResult.from_dict(r) for r in fragment["results"]] == report.results
    assert report.to_event() == {"run_id": RUN_ID, "batch": batch_id(items), "fragment": key,
                                 "mirrored": 3, "failed": 0,
                                 "bytes": sum(i.size or 0 for i in items)}


def test_batch_id_is_stable_under_reordering() -> None:
    """GIVEN the same items in another order THEN the same batch id; other items, another id."""
    items = [make_item(), make_item(make_bottle(name="jq", tag="sonoma"))]
    assert batch_id(items) == batch_id(list(reversed(items)))
    assert batch_id(items) != batch_id(items[:1])
    assert len(batch_id(items)) == 16


def test_empty_batch_writes_an_empty_fragment(upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN no items THEN an empty fragment (commit still finds the batch) and zero counts."""
    store = LocalStorage(tmp_path)
    report = mirror([], store, upstream)
    assert json.loads((tmp_path / report.fragment_key).read_bytes())["results"] == []
    assert report.to_event()["mirrored"] == 0


def test_bottle_result_from_dict_ignores_unknown_fields() -> None:
    """GIVEN a fragment written by a newer version THEN unknown fields are ignored."""
    result = BottleResult("f", "k", "s", FAILED, error="X", message="m")
    assert BottleResult.from_dict({**result.to_dict(), "future": 1}) == result
    assert result.failure().to_dict() == {"bottle": "f", "error": "X", "message": "m"}
