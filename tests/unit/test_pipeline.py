"""The overlapped local run: results in plan order, progress held for the bar, Ctrl-C drops the
bottles not yet started."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bottlesync import pipeline
from bottlesync.bottle import PlanItem
from bottlesync.config import Settings
from bottlesync.mirror import MIRRORED, BottleResult, batch_id
from bottlesync.pacing import small_requests
from bottlesync.pipeline import HeldProgress, Pipeline
from bottlesync.plan import Plan, results_prefix
from bottlesync.storage import LocalStorage
from bottlesync.upstream import Upstream
from tests.unit.conftest import make_bottle, make_item
from tests.unit.test_mirror import Recorder

RUN_ID = "20261128T030000Z-0a1b2c3d"
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def items(count: int) -> list[PlanItem]:
    """Small plan items of distinct formulae."""
    return [make_item(make_bottle(f"f{i}"), 1000) for i in range(count)]


def result(item: PlanItem) -> BottleResult:
    """What a landed item reports."""
    return BottleResult(item.bottle.file, item.key, item.bottle.sha256, MIRRORED, size=1000)


def plan_of(store: LocalStorage, planned: list[PlanItem]) -> Plan:
    """A plan holding `planned` in that order."""
    return Plan(run_id=RUN_ID, created_at="2026-11-28T03:00:00Z", source="s", base=store.base,
                layout="bottle-domain", selected=len(planned), present=0, items=planned)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """An upstream no request reaches: each test stubs mirror_one."""
    with Upstream(Settings()) as client:
        yield client


def open_pipeline(store: LocalStorage, upstream: Upstream, concurrency: int = 4) -> Pipeline:
    """A pipeline into `store` at a fixed time."""
    return Pipeline(storage=store, upstream=upstream, concurrency=concurrency, progress=None,
                    clock=lambda: NOW)


def test_the_fragment_lists_results_in_plan_order(tmp_path: Path, upstream: Upstream,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN items started in index-answer order WHEN finished THEN the fragment is the one a
    staged Mirror batch of the plan writes: named by the plan's items, results in plan order."""
    monkeypatch.setattr(pipeline, "mirror_one", lambda item, **_: result(item))
    store = LocalStorage(tmp_path)
    planned = items(6)
    with open_pipeline(store, upstream) as pipe:
        pipe.mirror(planned[3:])
        pipe.mirror(planned[:3])
        report = pipe.finish(plan_of(store, planned))
    fragment = json.loads((tmp_path / f"{results_prefix(RUN_ID)}{batch_id(planned)}.json")
                          .read_text())
    assert report.fragment_key.endswith(f"{batch_id(planned)}.json")
    assert [r["file"] for r in fragment["results"]] == [i.bottle.file for i in planned]


def test_an_interrupt_drops_the_bottles_not_yet_started(tmp_path: Path, upstream: Upstream,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN every worker busy and more bottles queued WHEN the run is interrupted THEN the
    running ones finish and the queued ones never start."""
    started: list[str] = []
    busy = threading.Semaphore(0)
    release = threading.Event()

    def held(item: PlanItem, **_: Any) -> BottleResult:
        started.append(item.bottle.file)
        busy.release()
        release.wait(60)
        return result(item)

    monkeypatch.setattr(pipeline, "mirror_one", held)
    store = LocalStorage(tmp_path)
    with pytest.raises(KeyboardInterrupt), open_pipeline(store, upstream, 1) as pipe:
        real_shutdown = pipe.pool.shutdown

        def shutdown(wait: bool = True, *, cancel_futures: bool = False) -> None:
            real_shutdown(wait=False, cancel_futures=cancel_futures)  # the queue is dropped now
            release.set()
            real_shutdown(wait=wait)

        monkeypatch.setattr(pipe.pool, "shutdown", shutdown)
        pipe.mirror(items(20))
        for _ in range(small_requests(1)):
            assert busy.acquire(timeout=60)
        raise KeyboardInterrupt
    assert len(started) == small_requests(1) < 20


def test_progress_is_held_until_the_plan_is_known() -> None:
    """GIVEN bytes and a finished bottle reported before the bar exists WHEN released THEN the
    bar gets them all, and everything after goes straight through."""
    target = Recorder()
    held = HeldProgress(target)
    first = result(items(1)[0])
    held.advance(5)
    held.done(first)
    assert (target.bytes, target.finished) == (0, [])
    held.release()
    assert (target.bytes, target.finished) == (5, [first.file])
    held.advance(3)
    assert target.bytes == 8


def test_past_the_early_bottles_the_rest_wait_for_the_plan_and_go_to_mirror_all(
        tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN more sized bottles than EARLY_ITEMS THEN only the first start at once; the rest
    are handed to mirror_all (threads, or worker processes for many small ones) once the plan
    is whole, and the fragment still lists every result in plan order."""
    monkeypatch.setattr(pipeline, "EARLY_ITEMS", 3)
    early: list[str] = []
    later: list[list[str]] = []
    monkeypatch.setattr(pipeline, "mirror_one",
                        lambda item, **_: early.append(item.bottle.file) or result(item))

    def staged(rest: list[PlanItem], **_: Any) -> list[BottleResult]:
        later.append([item.bottle.file for item in rest])
        return [result(item) for item in reversed(rest)]  # any order: finish sorts them

    monkeypatch.setattr(pipeline, "mirror_all", staged)
    store = LocalStorage(tmp_path)
    planned = items(8)
    with open_pipeline(store, upstream) as pipe:
        pipe.mirror(planned[4:])
        pipe.mirror(planned[:4])
        assert later == []
        report = pipe.finish(plan_of(store, planned))
    assert sorted(early) == sorted(i.bottle.file for i in planned[4:7])
    assert later == [[i.bottle.file for i in planned if i.bottle.file not in early]]
    assert [r.file for r in report.results] == [i.bottle.file for i in planned]
