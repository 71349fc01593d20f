"""Worker processes for long batches of small bottles: same results as threads, in item order;
one failure stops none; a 429 one worker sees holds every process (a shared monotonic cell)."""

from __future__ import annotations

import json
import multiprocessing
import queue
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bottlesync.bottle import PlanItem
from bottlesync.config import Settings
from bottlesync.mirror import FAILED, MIRRORED, BottleResult, mirror_all, processes_for
from bottlesync.mirror_pool import (
    SEND_EVERY,
    SEND_SECONDS,
    _lost,
    _received,
    _Sent,
    mirror_pooled,
)
from bottlesync.pacing import PROCESS_ITEMS
from bottlesync.plan import build_plan
from bottlesync.storage import LocalStorage, S3Storage
from bottlesync.throttle import Throttle
from bottlesync.upstream import Upstream
from tests.fakes.homebrew import FakeHomebrew
from tests.unit.conftest import make_bottle, make_item
from tests.unit.test_mirror import NOW, Recorder

THREADS_PROBE = """
import hashlib, json, sys
from pathlib import Path
from bottlesync.bottle import Bottle, PlanItem, key_for
from bottlesync.config import Settings
from bottlesync.mirror import mirror_all
from bottlesync.storage import LocalStorage
from bottlesync.upstream import Upstream
store, items = LocalStorage(Path(sys.argv[1])), []
for i in range(3):
    data = b"bottle %d" % i
    sha = hashlib.sha256(data).hexdigest()
    bottle = Bottle(f"f{i}", "1.0", "arm64_sequoia", 0, sha,
                    f"https://ghcr.io/v2/homebrew/core/f{i}/blobs/sha256:{sha}")
    item = PlanItem(bottle, key_for(bottle, "bottle-domain", ""), len(data))
    store.put_verified(item.key, [data], sha)
    items.append(item)
with Upstream(Settings()) as upstream:
    results = mirror_all(items, storage=store, upstream=upstream, concurrency=8)
print(json.dumps({"statuses": sorted({r.status for r in results}), "loaded": sorted(
    m for m in ("bottlesync.mirror_pool", "multiprocessing") if m in sys.modules)}))
"""


def small(count: int, size: int | None = 16 << 10) -> list[PlanItem]:
    """`count` distinct small plan items."""
    return [make_item(make_bottle(name=f"f{i:04d}"), size=size) for i in range(count)]


@pytest.mark.parametrize(("items", "cpus", "expected"), [
    (small(PROCESS_ITEMS), 2, 2),
    (small(PROCESS_ITEMS), 16, 4),  # at most MAX_PROCESSES
    (small(PROCESS_ITEMS), 1, 1),  # one core: a second GIL buys nothing
    (small(PROCESS_ITEMS), None, 1),
    (small(PROCESS_ITEMS - 1), 8, 1),  # short batch: starting interpreters costs more
    (small(PROCESS_ITEMS, size=512 << 20), 8, 1),  # big bottles: the network is the limit
    (small(PROCESS_ITEMS, size=None), 8, 1),  # unknown sizes may be big
])
def test_only_long_batches_of_small_bottles_get_processes(
        tmp_path: Path, items: list[PlanItem], cpus: int | None, expected: int) -> None:
    """GIVEN a local destination THEN processes only where pacing raised the workers."""
    assert processes_for(items, 8, LocalStorage(tmp_path), cpus) == expected


def test_an_s3_destination_stays_on_threads(tmp_path: Path) -> None:
    """GIVEN S3 (a Lambda Mirror batch, inside its memory size) THEN one process."""
    s3 = S3Storage("bucket", "", client=object())
    assert processes_for(small(PROCESS_ITEMS * 2), 8, s3, 8) == 1


def plan(settings: Settings, upstream: Upstream, store: LocalStorage) -> list[PlanItem]:
    """A fresh plan's items against the fake."""
    return build_plan(settings, upstream=upstream, storage=store, now=NOW).items


def test_processes_mirror_everything_in_item_order_and_one_failure_stops_none(
        homebrew: FakeHomebrew, settings: Settings, upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN 2 worker processes and jq's blobs answering 404 THEN jq fails, every other bottle
    lands verified, results come back in item order and progress saw each one."""
    store = LocalStorage(tmp_path / "mirror")
    items = plan(settings, upstream, store)
    homebrew.fault("status", match="/jq/blobs/", code=404, times=-1)
    progress = Recorder()
    results = mirror_pooled(items, storage=store, upstream=upstream, concurrency=2, processes=2,
                            progress=progress, clock=lambda: NOW)
    assert [r.file for r in results] == [i.bottle.file for i in items]
    failed = {r.file.split("-")[0] for r in results if r.status == FAILED}
    assert failed == {"jq"}
    for item, result in zip(items, results, strict=True):
        if result.status == MIRRORED:
            b = item.bottle
            assert (tmp_path / "mirror" / item.key).read_bytes() == homebrew.blob(b.name, b.tag)
            assert result.synced_at == "2026-11-28T03:00:00Z"
        else:
            assert result.error == "UpstreamError" and not (tmp_path / "mirror" / item.key).exists()
    assert sorted(progress.finished) == sorted(i.bottle.file for i in items)
    assert progress.bytes == sum(r.downloaded for r in results) > 0
    assert homebrew.auth_leaks == []


def test_a_429_in_a_worker_process_reaches_the_shared_pause(
        homebrew: FakeHomebrew, settings: Settings, upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN one 429 on a blob, seen by a worker process THEN the bottle still lands (retried)
    and the pause it set is in the cell every process waits on (read back by the parent)."""
    store = LocalStorage(tmp_path / "mirror")
    items = plan(settings, upstream, store)
    homebrew.fault("status", match="/ghcr1/blobs/", code=429, retry_after=30)
    before = time.monotonic()
    results = mirror_pooled(items, storage=store, upstream=upstream,
                            concurrency=2, processes=2, clock=lambda: NOW)
    assert {r.status for r in results} == {MIRRORED}
    assert upstream.throttle.cell.value > before  # held until about now + max_retry_after


def _pause_from_another_process(cell: Any) -> None:
    """What a worker does on a 429: pause the shared throttle."""
    Throttle(cell=cell).pause(30)


class Stop(Exception):
    """Ends a wait loop once the sleep it asked for is recorded."""


def test_a_pause_set_in_one_process_holds_another() -> None:
    """GIVEN a process-shared cell WHEN another process pauses 30 s THEN this process's wait()
    asks to sleep about that long (without the shared cell it would not wait at all)."""
    context = multiprocessing.get_context("spawn")
    cell = context.Value("d", 0.0)
    worker = context.Process(target=_pause_from_another_process, args=(cell,))
    worker.start()
    worker.join(timeout=60)
    assert worker.exitcode == 0
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        raise Stop

    with pytest.raises(Stop):
        Throttle(sleep=sleep, cell=cell).wait()
    assert 20 < asked[0] <= 30
    Throttle(sleep=sleep).wait()  # a throttle of its own: no pause, no sleep
    assert len(asked) == 1


class Dead:
    """A worker process that has exited."""

    def is_alive(self) -> bool:
        """Never."""
        return False


def landed(item: PlanItem) -> BottleResult:
    """What a worker reports for a bottle that landed."""
    return BottleResult(file=item.bottle.file, key=item.key, sha256=item.bottle.sha256,
                        status=MIRRORED)


def test_results_stop_when_every_worker_exited_and_the_lost_ones_fail() -> None:
    """GIVEN 3 expected results, 1 sent, every worker gone THEN 1 is received, no hang, and a
    missing bottle becomes a BatchCrashed failure naming it."""
    results: queue.Queue[list[tuple[int, BottleResult]]] = queue.Queue()
    item = small(1)[0]
    sent = landed(item)
    results.put([(0, sent)])
    assert list(_received(results, [Dead()], 3)) == [(0, sent)]
    lost = _lost(item)
    assert (lost.status, lost.error) == (FAILED, "BatchCrashed")
    assert lost.message and lost.message.startswith(item.bottle.file)


def test_mirror_all_hands_long_small_local_batches_to_the_processes(
        tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN mirror_all on a machine with 2 cores THEN a long batch of small bottles goes to
    mirror_pooled with 2 processes; a short one stays on this process's threads."""
    calls: list[tuple[str, int, int]] = []

    def pooled(items: list[PlanItem], **kwargs: Any) -> list[BottleResult]:
        calls.append(("processes", len(items), kwargs["processes"]))
        return [_lost(item) for item in items]

    def threads(items: list[PlanItem], **kwargs: Any) -> list[BottleResult]:
        calls.append(("threads", len(items), kwargs["workers"]))
        return [_lost(item) for item in items]

    monkeypatch.setattr("bottlesync.mirror_pool.mirror_pooled", pooled)
    monkeypatch.setattr("bottlesync.mirror.mirror_threads", threads)
    monkeypatch.setattr("bottlesync.mirror.os.cpu_count", lambda: 2)
    store = LocalStorage(tmp_path / "mirror")
    assert len(mirror_all(small(PROCESS_ITEMS), storage=store, upstream=upstream,
                          concurrency=8)) == PROCESS_ITEMS
    assert len(mirror_all(small(3), storage=store, upstream=upstream, concurrency=8)) == 3
    assert calls == [("processes", PROCESS_ITEMS, 2), ("threads", 3, 3)]



def test_a_batch_on_threads_loads_no_worker_process_machinery(tmp_path: Path) -> None:
    """GIVEN a short batch into a local directory, in a fresh interpreter THEN mirror_all
    imports neither the worker pool nor multiprocessing: only a batch that uses them pays."""
    done = subprocess.run([sys.executable, "-c", THREADS_PROBE, str(tmp_path / "mirror")],
                          capture_output=True, text=True, check=True, timeout=120,
                          cwd=Path(__file__).parents[2])
    assert json.loads(done.stdout) == {"statuses": ["adopted"], "loaded": []}

def test_a_worker_sends_its_results_in_lists_and_the_rest_at_the_end() -> None:
    """GIVEN SEND_EVERY + 3 finished bottles in one worker (a clock that does not move) THEN
    one list of SEND_EVERY goes at once, the last 3 only when flushed; the parent reads every
    pair back in order."""
    results: queue.Queue[list[tuple[int, BottleResult]]] = queue.Queue()
    batch = small(SEND_EVERY + 3)
    sent = _Sent(results, {item.bottle.file: i for i, item in enumerate(batch)},
                 clock=lambda: 0.0)
    done = [landed(item) for item in batch]
    for result in done:
        sent.done(result)
    assert results.qsize() == 1
    sent.flush()
    assert [len(results.queue[0]), len(results.queue[1])] == [SEND_EVERY, 3]
    assert list(_received(results, [Dead()], len(batch))) == list(enumerate(done))


def test_a_slow_worker_still_sends_what_it_has_every_few_moments() -> None:
    """GIVEN a result finished SEND_SECONDS after the worker's last send THEN the list goes
    at once, short as it is (the parent's progress does not wait for SEND_EVERY)."""
    results: queue.Queue[list[tuple[int, BottleResult]]] = queue.Queue()
    now = [0.0]
    batch = small(2)
    sent = _Sent(results, {item.bottle.file: i for i, item in enumerate(batch)},
                 clock=lambda: now[0])
    first, second = landed(batch[0]), landed(batch[1])
    sent.done(first)
    assert results.qsize() == 0
    now[0] = SEND_SECONDS
    sent.done(second)
    assert results.queue[0] == [(0, first), (1, second)]
