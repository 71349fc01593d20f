"""A local sync's Plan sync and Mirror bottles overlapped on one pool.

The Step Functions path cannot overlap (Plan sync ends before the Map starts); on one machine a
formula's bottles start downloading as soon as its OCI index answered, while the other indexes are
still in flight, on the same bounded pool, so in-flight requests stay bounded and no worker idles
between the two stages. The plan is still written whole (every item sized) once the last index
answered, and the result fragment once the last bottle finished, exactly as the staged run does.

A long run starts its first EARLY_ITEMS bottles that way; the rest wait for the plan and go to
mirror_all, which puts a long batch of small bottles on worker processes (mirror_pool.py): past
a few hundred bottles a second GIL gains more than starting before the last index answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from bottlesync.bottle import PlanItem
from bottlesync.mirror import (
    BatchReport,
    BottleResult,
    NoProgress,
    Progress,
    mirror_all,
    mirror_one,
    write_fragment,
)
from bottlesync.pacing import PROCESS_ITEMS, MemoryGate, small_requests
from bottlesync.plan import Plan
from bottlesync.storage import Storage
from bottlesync.upstream import Upstream

EARLY_ITEMS = PROCESS_ITEMS  # bottles started before the plan is whole: past this many, the rest
# may fill worker processes


class HeldProgress:
    """Progress held back until the plan is known (a bar is sized from it), then passed on."""

    def __init__(self, target: Progress) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._released = False
        self._bytes = 0
        self._done: list[BottleResult] = []

    def advance(self, nbytes: int) -> None:
        """Bytes arrived: pass them on, or keep count until release()."""
        with self._lock:
            if self._released:
                self._target.advance(nbytes)
            else:
                self._bytes += nbytes

    def done(self, result: BottleResult) -> None:
        """One bottle finished: pass it on, or keep it until release()."""
        with self._lock:
            if self._released:
                self._target.done(result)
            else:
                self._done.append(result)

    def release(self) -> None:
        """Report what was held, then pass everything straight on."""
        with self._lock:
            self._released = True
            if self._bytes:
                self._target.advance(self._bytes)
            for result in self._done:
                self._target.done(result)
            self._done.clear()


class Pipeline:
    """One pool for index requests and bottles; bottles start as their index answers."""

    def __init__(self, *, storage: Storage, upstream: Upstream, concurrency: int,
                 progress: Progress | None, clock: Callable[[], datetime]) -> None:
        self.pool = ThreadPoolExecutor(max_workers=small_requests(concurrency),
                                       thread_name_prefix="bottlesync")
        self._storage = storage
        self._upstream = upstream
        self._concurrency = concurrency
        self._clock = clock
        self._gate = MemoryGate(concurrency)
        self._progress = HeldProgress(progress or NoProgress())
        self._started: dict[str, Future[BottleResult]] = {}

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        """Wait for the workers; on an error (or Ctrl-C) drop the bottles not yet started."""
        self.pool.shutdown(wait=True, cancel_futures=kind is not None)

    def mirror(self, items: Iterable[PlanItem]) -> None:
        """Start mirroring sized plan items (build_plan's `on_sized`); past EARLY_ITEMS they
        wait for finish()."""
        for item in items:
            if len(self._started) < EARLY_ITEMS:
                self._started[item.bottle.file] = self.pool.submit(self._one, item)

    def planned(self) -> None:
        """The plan is known (and shown): progress held so far goes out now."""
        self._progress.release()

    def finish(self, plan: Plan) -> BatchReport:
        """Wait for the bottles started early, mirror the rest of the plan (mirror_all: threads,
        or worker processes for many small ones), then write the result fragment in plan order."""
        early = {file: future.result() for file, future in self._started.items()}
        rest = [item for item in plan.items if item.bottle.file not in early]
        later = mirror_all(rest, storage=self._storage, upstream=self._upstream,
                           concurrency=self._concurrency, progress=self._progress,
                           clock=self._clock)
        found = {**early, **{result.file: result for result in later}}
        results = [found[item.bottle.file] for item in plan.items]
        return write_fragment(self._storage, plan.run_id, plan.items, results)

    def _one(self, item: PlanItem) -> BottleResult:
        """Mirror one bottle once it fits the memory budget."""
        with self._gate.hold(item.size):
            result = mirror_one(item, storage=self._storage, upstream=self._upstream,
                                progress=self._progress, clock=self._clock)
        self._progress.done(result)
        return result
