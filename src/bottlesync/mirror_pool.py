"""Long batches of small bottles on worker processes: one GIL each, one shared 429 pause.

A small bottle is mostly Python work (two HTTP exchanges, a verified write), so one process tops
out on its GIL well below the link. Only the CLI's local destination uses this: a Lambda Mirror
batch writes to S3 and stays on threads inside its memory size. Each worker process opens its own
Upstream and LocalStorage; the bottles in flight are the same number as on threads, split between
the processes, so memory stays bounded by pacing's budget.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bottlesync.bottle import PlanItem
from bottlesync.config import Settings
from bottlesync.errors import BatchCrashed
from bottlesync.local_storage import LocalStorage
from bottlesync.mirror import FAILED, BottleResult, NoProgress, Progress, mirror_threads
from bottlesync.pacing import in_flight
from bottlesync.plan import iso
from bottlesync.storage import Storage
from bottlesync.throttle import Cell, Throttle
from bottlesync.upstream import Upstream

POLL_SECONDS = 1.0  # how often the parent checks that its workers are still alive
SEND_EVERY, SEND_SECONDS = 32, 0.25  # a worker sends its results in lists: one message per bottle
# was a fifth of the CPU (pickling, the queue's feeder thread, the parent's reads)


class _Sent(NoProgress):
    """A worker's Progress: finished bottles go to the parent with their batch index, in lists
    of SEND_EVERY (or whatever SEND_SECONDS gathered); flush() sends the rest."""

    def __init__(self, results: Any, index: dict[str, int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._results = results
        self._index = index
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[tuple[int, BottleResult]] = []
        self._since = clock()

    def done(self, result: BottleResult) -> None:
        """Keep (index, result); send the list once it is long or old enough."""
        with self._lock:
            self._pending.append((self._index[result.file], result))
            if len(self._pending) >= SEND_EVERY or self._clock() - self._since >= SEND_SECONDS:
                self._send()

    def flush(self) -> None:
        """Send what is kept (the worker's last results)."""
        with self._lock:
            if self._pending:
                self._send()

    def _send(self) -> None:
        """Put the kept results as one message (the lock is held)."""
        self._results.put(self._pending)
        self._pending, self._since = [], self._clock()


def _work(settings: Settings, root: str, items: list[tuple[int, PlanItem]], threads: int,
          cell: Cell, results: Any, force: bool) -> None:
    """One worker process: its own Upstream (pausing on the shared cell) and LocalStorage."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us quietly
    sent = _Sent(results, {item.bottle.file: i for i, item in items})
    with Upstream(settings) as upstream:
        upstream.throttle = Throttle(cell=cell)
        mirror_threads([item for _i, item in items], storage=LocalStorage(Path(root)),
                       upstream=upstream, workers=threads, force=force, progress=sent)
    sent.flush()


def mirror_pooled(items: Sequence[PlanItem], *, storage: Storage, upstream: Upstream,
                  concurrency: int, processes: int, progress: Progress | None = None,
                  force: bool = False, clock: Callable[[], datetime]) -> list[BottleResult]:
    """Mirror `items` on `processes` worker processes; results in item order. A worker that
    dies fails only the bottles it had not finished (BatchCrashed), never the others.
    `storage` is a LocalStorage (mirror.processes_for): each worker reopens its root."""
    reporter = progress or NoProgress()
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    cell = context.Value("d", upstream.throttle.cell.value)
    results = context.Queue()
    threads = max(1, min(in_flight(items, concurrency), len(items)) // processes)
    workers = [context.Process(target=_work, daemon=True, args=(
        upstream.settings, storage.base, list(enumerate(items))[n::processes], threads, cell,
        results, force)) for n in range(processes)]
    for worker in workers:
        worker.start()
    done: list[BottleResult | None] = [None] * len(items)
    try:
        for index, result in _received(results, workers, len(items)):
            if result.ok:
                result.synced_at = iso(clock())
            done[index] = result
            reporter.advance(result.downloaded)
            reporter.done(result)
    finally:
        for worker in workers:
            worker.join(timeout=POLL_SECONDS)
            if worker.is_alive():
                worker.terminate()
        parent = upstream.throttle.cell  # a 429 a worker saw still holds this process back
        with parent.get_lock():
            parent.value = max(parent.value, cell.value)
    return [result or _lost(item) for item, result in zip(items, done, strict=True)]


def _received(results: Any, workers: list[Any], count: int
              ) -> Iterator[tuple[int, BottleResult]]:
    """(index, result) pairs, sent in lists, until all `count` came, or every worker exited
    and none is left."""
    while count > 0:
        try:
            batch = results.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if any(worker.is_alive() for worker in workers):
                continue
            try:  # an exited worker's last results are already in the pipe
                batch = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                return
        count -= len(batch)
        yield from batch


def _lost(item: PlanItem) -> BottleResult:
    """The result of a bottle whose worker process exited before finishing it."""
    file = item.bottle.file
    return BottleResult(file=file, key=item.key, sha256=item.bottle.sha256, status=FAILED,
                        error=BatchCrashed.__name__,
                        message=f"{file}: the worker process mirroring it exited early")
