"""GIVEN the registry answers 429 WHEN several workers are downloading THEN the whole pool waits.

Proved with a gated sleep and a virtual clock, never by timing the run: every sleep blocks until
the test's condition holds (or a generous timeout, reached only when the code is wrong), so the
outcome is the same on an idle laptop and on a CI runner with both cores busy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bottlesync.commit import RunReport
from bottlesync.storage import LocalStorage
from bottlesync.sync import run_sync
from bottlesync.throttle import Throttle
from bottlesync.upstream import Upstream
from tests.conftest import fast_settings
from tests.reliability.conftest import TimedHomebrew, assert_converged, many_formulae

WORKERS = 6
PAUSE = 0.4  # Retry-After: 1, capped by max_retry_after
GIVE_UP = 30.0  # seconds a gate waits for its condition: only reached when the code is wrong


class GatedSleep:
    """Upstream's sleep and its throttle's clock: virtual time that moves only when the gate
    opens, and sleepers held until `ready()` says what the test wanted to see has happened."""

    def __init__(self, ready: Callable[[GatedSleep], bool]) -> None:
        self.ready = ready
        self.now = 0.0
        self.asleep: set[int] = set()
        self.sleepers: set[int] = set()
        self.most_asleep = 0
        self.opened = False
        self.cond = threading.Condition()

    def clock(self) -> float:
        """The throttle's monotonic clock."""
        with self.cond:
            return self.now

    def __call__(self, seconds: float) -> None:
        me = threading.get_ident()
        with self.cond:
            self.sleepers.add(me)
            self.asleep.add(me)
            self.most_asleep = max(self.most_asleep, len(self.asleep))
            self.cond.notify_all()
            if not self.opened:
                self.opened = self.cond.wait_for(lambda: self.opened or self.ready(self),
                                                 timeout=GIVE_UP)
                self.opened = True  # timed out: let the run finish so the asserts can speak
                self.cond.notify_all()
            self.now += max(seconds, 0.0)
            self.asleep.discard(me)

    def poke(self) -> None:
        """Re-check `ready` (something the sleepers wait for happened outside a sleep)."""
        with self.cond:
            self.cond.notify_all()


def gated_sync(homebrew: TimedHomebrew, dest: Path, gate: GatedSleep) -> RunReport:
    """One whole local sync whose sleeps and throttle clock are the gate's."""
    settings = fast_settings(homebrew.source_url, dest, concurrency=WORKERS,
                             max_retry_after=PAUSE, connect_timeout=30, read_timeout=30)
    with Upstream(settings, sleep=gate) as upstream:
        upstream.throttle = type(upstream.throttle)(sleep=gate, clock=gate.clock)
        return run_sync(settings, storage=LocalStorage(dest), upstream=upstream)


@pytest.mark.parametrize("where", ["registry", "blob_host"])
def test_one_429_pauses_every_worker(
    timed_homebrew: Callable[..., TimedHomebrew], tmp_path: Path, where: str
) -> None:
    """GIVEN concurrency 6 and a 429 early in a run with plenty left to fetch THEN at least 6
    workers are held by the pause at the same time (a pool that ignored it would go on fetching
    while only the 429'd worker sleeps). "At least": a local run's pool also carries the index
    requests and more small bottles than the setting (pipeline.py, pacing.MemoryGate)."""
    formulae = many_formulae(120)
    homebrew = timed_homebrew(formulae)
    early = formulae[10]
    sha = homebrew.sha256(early.name, early.tags[0])
    prefix = "/ghcr1" if where == "blob_host" else f"/{early.image}"
    homebrew.fault("status", f"{prefix}/blobs/sha256:{sha}", 1, code=429, retry_after=1)
    gate = GatedSleep(ready=lambda g: len(g.asleep) >= WORKERS)
    report = gated_sync(homebrew, tmp_path / "m", gate)
    assert [kind for _at, kind, _path in homebrew.served] == ["status"]
    assert gate.most_asleep >= WORKERS
    assert report.exit_code == 0
    assert_converged(tmp_path / "m", homebrew)


def test_without_a_429_the_pool_never_pauses(
    timed_homebrew: Callable[..., TimedHomebrew], tmp_path: Path
) -> None:
    """GIVEN a 503 (not a rate limit) THEN only its own worker backs off; while it sleeps the
    others go on fetching (the gate holds it until 10 more requests have arrived)."""
    formulae = many_formulae(60)
    homebrew = timed_homebrew(formulae)
    early = formulae[3]
    sha = homebrew.sha256(early.name, early.tags[0])
    homebrew.fault("status", f"/{early.image}/blobs/sha256:{sha}", 1, code=503, retry_after=1)
    seen: list[int] = []

    def others_went_on(gate: GatedSleep) -> bool:
        if not seen:
            seen.append(len(homebrew.arrivals))
        return len(homebrew.arrivals) >= seen[0] + 10

    gate = GatedSleep(ready=others_went_on)
    arrive = homebrew._handle
    homebrew._handle = lambda handler: (arrive(handler), gate.poke())[0]  # type: ignore[method-assign]
    report = gated_sync(homebrew, tmp_path / "m", gate)
    assert [kind for _at, kind, _path in homebrew.served] == ["status"]
    assert len(gate.sleepers) == 1  # the 503'd worker alone slept
    assert len(homebrew.arrivals) >= seen[0] + 10
    assert report.exit_code == 0
    assert_converged(tmp_path / "m", homebrew)


def test_the_per_request_check_takes_no_lock_when_there_is_no_pause() -> None:
    """GIVEN the pause's lock held elsewhere (a worker process writing a 429's pause) and no
    pause due THEN a request's wait() returns at once: every request asks, and a process-shared
    lock on that path was a tenth of a small bottle's CPU. (Old code: it waits for the lock.)"""
    throttle = Throttle()
    with throttle.cell.get_lock():
        asked = threading.Thread(target=throttle.wait)
        asked.start()
        asked.join(timeout=GIVE_UP)
        assert not asked.is_alive()
