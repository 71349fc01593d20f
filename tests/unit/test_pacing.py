"""In flight: more workers for small bottles and tiny requests, never more memory than budgeted."""

from __future__ import annotations

import threading
from contextlib import ExitStack

import pytest

from bottlesync.bottle import Bottle, PlanItem
from bottlesync.pacing import (
    MAX_IN_FLIGHT,
    MEMORY_BUDGET,
    MIN_BATCH,
    MemoryGate,
    in_flight,
    small_requests,
)

SHA = "a" * 64


def items(*sizes: int | None) -> list[PlanItem]:
    """Plan items of the given sizes."""
    bottle = Bottle("wget", "1.0", "arm64_sequoia", 0, SHA,
                    f"https://ghcr.io/v2/homebrew/core/wget/blobs/sha256:{SHA}")
    return [PlanItem(bottle, "bottles/x", size) for size in sizes]


def test_small_bottles_get_four_times_the_configured_workers() -> None:
    """GIVEN 300 bottles of 60 KB and concurrency 8 WHEN sized THEN 32 in flight."""
    assert in_flight(items(*[60_000] * 300), 8) == 32


@pytest.mark.parametrize("size", [8 << 20, 2 << 30])
def test_big_bottles_stay_at_the_configured_concurrency(size: int) -> None:
    """GIVEN a batch holding a big bottle WHEN sized THEN the setting, not more."""
    assert in_flight(items(*[60_000] * MIN_BATCH, size), 8) == 8


def test_workers_times_largest_bottle_stays_inside_the_budget() -> None:
    """GIVEN 4 MiB bottles WHEN sized THEN the extra workers hold at most MEMORY_BUDGET."""
    workers = in_flight(items(*[4 << 20] * MIN_BATCH), 8)
    assert workers > 8 and workers * (4 << 20) <= MEMORY_BUDGET


def test_an_unknown_size_keeps_the_setting() -> None:
    """GIVEN an item whose index gave no size WHEN sized THEN the setting (it may be big)."""
    assert in_flight(items(*[1_000] * MIN_BATCH, None), 8) == 8


def test_a_short_batch_keeps_the_setting() -> None:
    """GIVEN fewer than MIN_BATCH small bottles WHEN sized THEN the setting."""
    assert in_flight(items(*[1_000] * (MIN_BATCH - 1)), 8) == 8


def test_small_requests_are_capped() -> None:
    """GIVEN any concurrency WHEN tiny requests are sized THEN 4x, at most MAX_IN_FLIGHT."""
    assert small_requests(8) == 32
    assert small_requests(64) == MAX_IN_FLIGHT
    assert small_requests(1) == 4


def test_the_gate_weighs_big_and_unknown_bottles_as_a_full_share() -> None:
    """GIVEN concurrency 8 WHEN bottles are weighed THEN a small one its size, a big or unknown
    one an eighth of the budget."""
    gate = MemoryGate(8)
    assert gate.weight(60_000) == 60_000
    assert gate.weight(None) == gate.weight(2 << 30) == MEMORY_BUDGET // 8


def test_many_small_bottles_pass_the_gate_at_once() -> None:
    """GIVEN concurrency 8 WHEN 64 small bottles hold the gate together THEN none waits."""
    gate = MemoryGate(8)
    with ExitStack() as held:
        for _ in range(64):
            held.enter_context(gate.hold(60_000))


def test_the_gate_holds_a_bottle_past_the_budget_until_one_finishes() -> None:
    """GIVEN `concurrency` bottles of unknown size in flight WHEN another wants in THEN it
    waits until one of them finishes."""
    gate = MemoryGate(2)
    entered = threading.Event()

    def another() -> None:
        with gate.hold(1):
            entered.set()

    with ExitStack() as held:
        first = held.enter_context(ExitStack())
        first.enter_context(gate.hold(None))
        held.enter_context(gate.hold(None))
        waiter = threading.Thread(target=another)
        waiter.start()
        assert not entered.wait(0.2)  # a broken gate lets it in at once
        first.close()
        assert entered.wait(30)
    waiter.join(30)
