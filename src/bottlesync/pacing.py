"""How many requests to keep in flight: latency-bound small work gets more, memory stays bounded.

With 40 ms a request and bottles of tens of KiB, 8 workers leave the link idle most of the
time. A worker holds at most one bottle in memory (less for big ones: a read or an S3 part), so
a batch whose largest bottle is small can run more workers within a fixed memory budget. The shared
429/5xx back-off (upstream.Throttle) still paces all of them together.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bottlesync.bottle import PlanItem

SMALL_FACTOR = 4  # at most 4x the configured concurrency for small bottles
MAX_IN_FLIGHT = 64
MIN_BATCH = 100  # fewer small bottles finish in a few rounds of requests: extra workers add little
MEMORY_BUDGET = 64 << 20  # bytes of bottle data in flight at once that the extra workers may use
PROCESS_ITEMS = 500  # a batch of small bottles this long may go to worker processes (mirror_pool):
# below it, starting interpreters costs more than the second GIL gains


def small_requests(concurrency: int) -> int:
    """Workers for tiny requests (OCI indexes, a few KiB each): latency, not memory, bounds them."""
    return max(1, min(concurrency * SMALL_FACTOR, MAX_IN_FLIGHT))


def in_flight(items: Sequence[PlanItem], concurrency: int) -> int:
    """Workers for a batch: `concurrency`, raised up to small_requests for a long batch (at
    least MIN_BATCH) whose largest bottle is small enough that the extra workers stay inside
    MEMORY_BUDGET."""
    sizes = [item.size for item in items]
    if len(sizes) < MIN_BATCH or None in sizes:
        return max(1, concurrency)  # an unknown size may be a big bottle: stay at the setting
    largest = max(size or 0 for size in sizes) or 1
    return max(1, concurrency, min(small_requests(concurrency), MEMORY_BUDGET // largest))


class MemoryGate:
    """Bottle bytes in flight on a pool shared with the index requests, where the batch's sizes
    are not all known up front: a bottle weighs its size, a big or unknown one a full worker's
    share of MEMORY_BUDGET, so `concurrency` of those fit and small ones go many at once."""

    def __init__(self, concurrency: int, budget: int = MEMORY_BUDGET) -> None:
        self._share = max(1, budget // max(1, concurrency))
        self._free = self._share * max(1, concurrency)
        self._changed = threading.Condition()

    def weight(self, size: int | None) -> int:
        """What a bottle of `size` bytes (None: unknown) takes from the budget."""
        return self._share if size is None else max(1, min(size, self._share))

    @contextmanager
    def hold(self, size: int | None) -> Iterator[None]:
        """Wait until a bottle of `size` fits, and keep its weight while it transfers."""
        weight = self.weight(size)
        with self._changed:
            self._changed.wait_for(lambda: self._free >= weight)
            self._free -= weight
        try:
            yield
        finally:
            with self._changed:
                self._free += weight
                self._changed.notify_all()
