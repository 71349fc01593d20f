"""Being polite under pressure: a pause the whole pool shares, and the server's Retry-After."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from bottlesync.errors import TransientUpstreamError


class RetryableUpstream(TransientUpstreamError):
    """A transient error carrying the delay the server asked for (Retry-After), if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Cell(Protocol):
    """A float behind a lock: a multiprocessing.Value("d") shares it between processes."""

    value: float

    def get_lock(self) -> Any:
        """The lock guarding `value`."""

    def get_obj(self) -> Any:
        """The float itself (its `.value`), read without the lock."""


class _ThreadCell:
    """A Cell for the threads of one process."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value
        self._lock = threading.Lock()

    def get_lock(self) -> threading.Lock:
        """The lock guarding `value`."""
        return self._lock

    def get_obj(self) -> _ThreadCell:
        """Itself: reading a float attribute needs no lock."""
        return self


class Throttle:
    """A pause shared by every worker: one 429 slows the whole pool, not only its own thread.

    With a process-shared `cell` (monotonic time is system-wide), it pauses worker processes too.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, cell: Cell | None = None) -> None:
        self._sleep = sleep
        self._clock = clock
        self.cell: Cell = cell if cell is not None else _ThreadCell()
        self._resume_at = self.cell.get_obj()  # read lock-free by wait(): a double is one load

    def pause(self, seconds: float) -> None:
        """Hold every request for at least `seconds` from now."""
        with self.cell.get_lock():
            self.cell.value = max(self.cell.value, self._clock() + seconds)

    def wait(self) -> None:
        """Sleep until the shared pause is over."""
        while True:  # every request asks, so the usual "no pause" answer takes no lock (a
            delay = self._resume_at.value - self._clock()  # process-shared one cost ~10 %)
            if delay <= 0:
                return
            self._sleep(delay)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # only an HTTP-date needs it (~8 ms of imports every run would pay)

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
