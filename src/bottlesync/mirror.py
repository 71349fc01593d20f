"""Mirror batch: stream, verify and store each bottle on a bounded pool; one failure stops none."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bottlesync.bottle import PlanItem
from bottlesync.errors import BottlesyncError, Failure
from bottlesync.pacing import PROCESS_ITEMS, in_flight
from bottlesync.plan import iso, results_prefix
from bottlesync.storage import LocalStorage, Storage
from bottlesync.upstream import Upstream

log = logging.getLogger(__name__)
MAX_PROCESSES = 4  # worker processes for one batch (pacing.PROCESS_ITEMS says when)
MIRRORED, ADOPTED, COPIED, FAILED = "mirrored", "adopted", "copied", "failed"


class Progress(Protocol):
    """What the mirror reports while it works (a progress bar, a heartbeat, or nothing)."""

    def advance(self, nbytes: int) -> None:
        """Bytes downloaded and verified-in-flight."""

    def done(self, result: BottleResult) -> None:
        """One bottle finished (landed, adopted or failed)."""


class NoProgress:
    """Progress that reports nowhere."""

    def advance(self, nbytes: int) -> None:
        """Ignore."""

    def done(self, result: BottleResult) -> None:
        """Ignore."""


@dataclass
class BottleResult:
    """The outcome for one plan item, as written to the result fragment."""

    file: str
    key: str
    sha256: str
    status: str
    size: int = 0
    downloaded: int = 0
    synced_at: str | None = None
    error: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """Landed now, found already verified under its key, or copied from another key."""
        return self.status in (MIRRORED, ADOPTED, COPIED)

    def failure(self) -> Failure:
        """The `failures[]` entry of a failed result."""
        return Failure(self.file, self.error or "Error", self.message or "")

    def to_dict(self) -> dict[str, Any]:
        """Fragment shape."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BottleResult:
        """From a fragment (fields we do not know are ignored)."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class BatchReport:
    """What a batch did: its results, and the fragment it wrote them to."""

    run_id: str
    batch: str
    results: list[BottleResult] = field(default_factory=list)
    fragment_key: str = ""

    def count(self, *statuses: str) -> int:
        """How many results have one of `statuses`."""
        return sum(1 for r in self.results if r.status in statuses)

    def to_event(self) -> dict[str, Any]:
        """Small JSON for the state machine: counts and the fragment key, never the results."""
        return {"run_id": self.run_id, "batch": self.batch, "fragment": self.fragment_key,
                "mirrored": self.count(MIRRORED, ADOPTED, COPIED), "failed": self.count(FAILED),
                "bytes": sum(r.downloaded for r in self.results)}


def batch_id(items: Sequence[PlanItem]) -> str:
    """Stable per batch content: a replayed batch overwrites its own fragment."""
    digest = hashlib.sha256("\n".join(sorted(i.bottle.file for i in items)).encode())
    return digest.hexdigest()[:16]


def mirror_all(items: Sequence[PlanItem], *, storage: Storage, upstream: Upstream,
               concurrency: int, progress: Progress | None = None, force: bool = False,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[BottleResult]:
    """Mirror every item with at most `concurrency` in flight; results in item order.

    `force` re-downloads even when the stored object claims the right digest (repair).
    """
    if not items:
        return []
    processes = processes_for(items, concurrency, storage, os.cpu_count())
    if processes > 1:
        from bottlesync import mirror_pool  # multiprocessing only for a batch that uses it

        return mirror_pool.mirror_pooled(items, storage=storage, upstream=upstream,
                                         concurrency=concurrency, processes=processes,
                                         progress=progress, force=force, clock=clock)
    return mirror_threads(items, storage=storage, upstream=upstream, progress=progress,
                          workers=min(in_flight(items, concurrency), len(items)), force=force,
                          clock=clock)


def processes_for(items: Sequence[PlanItem], concurrency: int, storage: Storage,
                  cpus: int | None) -> int:
    """Worker processes for a batch: several only for a long batch of small bottles (pacing
    raised its workers) into a local directory on a machine with more than one core."""
    if not isinstance(storage, LocalStorage) or len(items) < PROCESS_ITEMS or (cpus or 1) < 2:
        return 1
    if in_flight(items, concurrency) <= max(1, concurrency):
        return 1  # big or unsized bottles: the network, not the GIL, is the limit
    return min(cpus or 1, MAX_PROCESSES)


def mirror_threads(items: Sequence[PlanItem], *, storage: Storage, upstream: Upstream,
                   workers: int, progress: Progress | None = None, force: bool = False,
                   clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                   ) -> list[BottleResult]:
    """Mirror every item on `workers` threads of this process; results in item order."""
    reporter = progress or NoProgress()

    def one(item: PlanItem) -> BottleResult:
        result = mirror_one(item, storage=storage, upstream=upstream, progress=reporter,
                            clock=clock, force=force)
        reporter.done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, items))


def mirror_items(items: Sequence[PlanItem], *, storage: Storage, upstream: Upstream, run_id: str,
                 concurrency: int, progress: Progress | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> BatchReport:
    """Mirror a batch of a run's plan, then write its result fragment for Commit run."""
    results = mirror_all(items, storage=storage, upstream=upstream, concurrency=concurrency,
                         progress=progress, clock=clock)
    return write_fragment(storage, run_id, items, results)


def write_fragment(storage: Storage, run_id: str, items: Sequence[PlanItem],
                   results: list[BottleResult]) -> BatchReport:
    """Write a batch's results (in item order) where Commit run merges them."""
    report = BatchReport(run_id=run_id, batch=batch_id(items), results=results)
    report.fragment_key = f"{results_prefix(run_id)}{report.batch}.json"
    fragment = {"run_id": run_id, "batch": report.batch,
                "results": [r.to_dict() for r in report.results]}
    storage.put_bytes(report.fragment_key, json.dumps(fragment, indent=1).encode())
    return report


def mirror_one(item: PlanItem, *, storage: Storage, upstream: Upstream, progress: Progress,
               clock: Callable[[], datetime], force: bool = False) -> BottleResult:
    """Fetch one bottle (or adopt an identical verified copy); a failure becomes a result."""
    b = item.bottle
    result = BottleResult(file=b.file, key=item.key, sha256=b.sha256, status=FAILED)
    try:
        if not force and storage.stored_sha256(item.key) == b.sha256:
            result.status, result.size = ADOPTED, item.size or 0
        elif (not force and item.copy_from
              and (size := _copy(item, item.copy_from, storage)) is not None):
            result.status, result.size = COPIED, size
        else:
            result.size = upstream.with_retries(lambda: _fetch(item, storage, upstream, progress),
                                                b.file)
            result.status, result.downloaded = MIRRORED, result.size
        result.synced_at = iso(clock())
    except BottlesyncError as exc:
        result.error, result.message = type(exc).__name__, f"{b.file}: {exc}"
        log.warning("%s failed: %s", b.file, exc)
    return result


def _copy(item: PlanItem, source: str, storage: Storage) -> int | None:
    """Copy the destination's own copy under `source` to the item's key, verified on the way (a
    layout change downloads nothing); None when that copy is gone or damaged: fetch instead."""
    try:
        return storage.put_verified(item.key, storage.iter_chunks(source), item.bottle.sha256,
                                    size_hint=item.size)
    except BottlesyncError as exc:
        log.warning("%s: cannot copy %s (%s): fetching it", item.bottle.file, source, exc)
        return None


def _fetch(item: PlanItem, storage: Storage, upstream: Upstream, progress: Progress) -> int:
    """One attempt: stream from the registry into storage, verified on the way."""
    b = item.bottle
    sent = [0]
    try:
        with upstream.open(b.url, f"bottle {b.file}", auth=True) as response:
            chunks = _counted(upstream.body(response, b.file, item.size), progress, sent)
            return storage.put_verified(item.key, chunks, b.sha256, size_hint=item.size)
    except BottlesyncError:
        progress.advance(-sent[0])  # a failed attempt's bytes will be fetched again: un-count
        raise


def _counted(chunks: Iterable[bytes], progress: Progress, sent: list[int]) -> Iterator[bytes]:
    """Pass chunks through, reporting their sizes and adding them up in `sent`."""
    for chunk in chunks:
        progress.advance(len(chunk))
        sent[0] += len(chunk)
        yield chunk
