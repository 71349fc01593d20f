"""Bounded downloads: a body may not outgrow its announced size, crawl, or outlive its deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from bottlesync.bottle import PlanItem
from bottlesync.config import Settings
from bottlesync.errors import BodyTooLarge, Failure, TransferStalled


@dataclass(frozen=True)
class Bounds:
    """How long and how slow one body may be (curl's --max-filesize, --speed-limit/-time)."""

    max_bytes: int
    low_speed_limit: int
    low_speed_time: float
    deadline: float | None  # seconds for the whole body, None when its size is unknown

    @classmethod
    def for_size(cls, settings: Settings, size: int | None) -> Bounds:
        """Bounds for a body of announced `size` (None: only the configured maximum applies).

        The deadline is the time the slowest allowed transfer takes, plus one low-speed window.
        """
        limit = settings.max_bottle_size if size is None else min(size, settings.max_bottle_size)
        deadline = (None if size is None else
                    settings.low_speed_time + size / settings.low_speed_limit)
        return cls(limit, settings.low_speed_limit, settings.low_speed_time, deadline)


def bounded(chunks: Iterable[bytes], bounds: Bounds, what: str,
            clock: Callable[[], float] = time.monotonic) -> Iterator[bytes]:
    """Pass chunks through; BodyTooLarge past max_bytes, TransferStalled when too slow or late."""
    started = window_start = clock()
    total = window_bytes = 0
    for chunk in chunks:
        total += len(chunk)
        if total > bounds.max_bytes:
            raise BodyTooLarge(f"{what}: body is larger than {bounds.max_bytes} bytes: cut off")
        window_bytes += len(chunk)
        now = clock()
        if bounds.deadline is not None and now - started > bounds.deadline:
            raise TransferStalled(f"{what}: not done after {bounds.deadline:.0f} s "
                                  f"({total} bytes arrived)")
        if now - window_start >= bounds.low_speed_time:
            if window_bytes < bounds.low_speed_limit * bounds.low_speed_time:
                raise TransferStalled(f"{what}: fewer than {bounds.low_speed_limit} bytes/s "
                                      f"over {bounds.low_speed_time:g} s")
            window_start, window_bytes = now, 0
        yield chunk


def refuse_oversized(items: Sequence[PlanItem], max_size: int
                     ) -> tuple[list[PlanItem], list[Failure]]:
    """Split off plan items whose announced size is above max_bottle_size: never fetched."""
    kept: list[PlanItem] = []
    refused: list[Failure] = []
    for item in items:
        if item.size is not None and item.size > max_size:
            refused.append(Failure.of(item.bottle.file, BodyTooLarge(
                f"{item.bottle.file}: announced size {item.size} bytes is above "
                f"max_bottle_size ({max_size} bytes)")))
        else:
            kept.append(item)
    return kept, refused
