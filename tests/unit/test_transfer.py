"""transfer: a body is cut off past its bound; a crawl or an overrun deadline fails it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bottlesync.config import Settings
from bottlesync.errors import BodyTooLarge, TransferStalled
from bottlesync.transfer import Bounds, bounded, refuse_oversized
from tests.unit.conftest import make_bottle, make_item


class StepClock:
    """A clock that moves `step` seconds each time it is read (one read per chunk)."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def drain(chunks: Iterator[bytes]) -> int:
    """Consume and count bytes."""
    return sum(len(c) for c in chunks)


def test_bounds_follow_the_announced_size() -> None:
    """GIVEN an announced size THEN it is the byte limit and the deadline scales with it."""
    settings = Settings(low_speed_limit=1000, low_speed_time=10, max_bottle_size=10**6)
    assert Bounds.for_size(settings, 5000) == Bounds(5000, 1000, 10, 15.0)
    assert Bounds.for_size(settings, None) == Bounds(10**6, 1000, 10, None)
    assert Bounds.for_size(settings, 10**9).max_bytes == 10**6


def test_a_longer_body_is_cut_off() -> None:
    """GIVEN a body longer than allowed THEN BodyTooLarge before the extra bytes pass."""
    passed = []
    with pytest.raises(BodyTooLarge, match="larger than 10 bytes"):
        for chunk in bounded(iter([b"x" * 6, b"x" * 6, b"x" * 6]), Bounds(10, 1, 60, None),
                             "bottle b", StepClock(0.001)):
            passed.append(chunk)
    assert sum(map(len, passed)) == 6


def test_a_crawl_below_the_low_speed_limit_fails() -> None:
    """GIVEN one byte per 2 s (fake clock) and the defaults THEN TransferStalled within 60 s."""
    clock = StepClock(2.0)
    settings = Settings()
    with pytest.raises(TransferStalled, match="fewer than 1024 bytes/s over 60 s"):
        drain(bounded(iter([b"x"] * 10_000), Bounds.for_size(settings, 10_000), "b", clock))
    assert clock.now <= 64  # given up after one low-speed window, not 10,000 bytes later


def test_a_fast_enough_transfer_passes() -> None:
    """GIVEN chunks above the limit THEN every byte passes through."""
    chunks = iter([b"x" * 2048] * 100)
    assert drain(bounded(chunks, Bounds(10**6, 1024, 1, None), "b", StepClock(0.5))) == 204_800


def test_the_deadline_stops_a_transfer_that_keeps_just_above_the_limit() -> None:
    """GIVEN a body that never ends at exactly the limit THEN the size-scaled deadline fails it."""
    bounds = Bounds(max_bytes=10**9, low_speed_limit=10, low_speed_time=5, deadline=20.0)
    with pytest.raises(TransferStalled, match="not done after 20 s"):
        drain(bounded(iter([b"x" * 10] * 1000), bounds, "b", StepClock(1.0)))


def test_absurd_announced_sizes_are_refused_at_plan_time() -> None:
    """GIVEN an announced size above max_bottle_size THEN that item is refused, others kept."""
    small, huge = make_item(make_bottle("jq"), size=100), make_item(make_bottle("wget"), 10**15)
    kept, refused = refuse_oversized([small, huge, make_item(make_bottle("x"), None)], 10**6)
    assert [i.bottle.name for i in kept] == ["jq", "x"]
    assert [(f.bottle, f.error) for f in refused] == [(huge.bottle.file, "BodyTooLarge")]
    assert "max_bottle_size" in refused[0].message
