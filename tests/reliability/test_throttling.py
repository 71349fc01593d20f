"""GIVEN the registry answers 429 WHEN several workers are downloading THEN the whole pool waits.

Proved from the fake's request timestamps, not by timing the run: after the 429 was served, no
request from any worker arrives until the Retry-After delay (capped) has passed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import TimedHomebrew, assert_converged, many_formulae, sync_once

PAUSE = 0.4  # Retry-After: 1, capped by max_retry_after
RACE = 0.05  # requests already sent when the 429 left the server may still arrive this late


@pytest.mark.parametrize("where", ["registry", "blob_host"])
def test_one_429_pauses_every_worker(
    timed_homebrew: Callable[..., TimedHomebrew], tmp_path: Path, where: str
) -> None:
    """GIVEN 6 workers and a 429 mid-run THEN nobody asks anything for the Retry-After delay."""
    formulae = many_formulae(20)
    homebrew = timed_homebrew(formulae)
    middle = formulae[10]
    sha = homebrew.sha256(middle.name, middle.tags[0])
    prefix = "/ghcr1" if where == "blob_host" else f"/{middle.image}"
    homebrew.fault("status", f"{prefix}/blobs/sha256:{sha}", 1, code=429, retry_after=1)
    report = sync_once(homebrew, tmp_path / "m", concurrency=6, max_retry_after=PAUSE)
    assert report.exit_code == 0
    assert_converged(tmp_path / "m", homebrew)
    [(served_at, kind, _path)] = homebrew.served
    assert kind == "status"
    during = [path for at, path in homebrew.arrivals if served_at + RACE < at < served_at + PAUSE]
    assert during == []
    after = [at for at, _ in homebrew.arrivals if at > served_at + RACE]
    assert len(after) > 10  # the pool did resume: the run was still busy when the 429 came
    assert min(after) >= served_at + PAUSE - 0.01


def test_without_a_429_the_pool_never_pauses(
    timed_homebrew: Callable[..., TimedHomebrew], tmp_path: Path
) -> None:
    """GIVEN a 503 (not a rate limit) THEN only its own worker backs off; the others go on."""
    formulae = many_formulae(60)  # an early 503, then > 1 s of work left for the others
    homebrew = timed_homebrew(formulae)
    early = formulae[3]
    sha = homebrew.sha256(early.name, early.tags[0])
    homebrew.fault("status", f"/{early.image}/blobs/sha256:{sha}", 1, code=503, retry_after=1)
    # slow bodies keep the other workers busy while the 503'd one sleeps
    homebrew.fault("slow", "/ghcr1/blobs/", -1, delay=0.05)
    report = sync_once(homebrew, tmp_path / "m", concurrency=6, max_retry_after=PAUSE)
    assert report.exit_code == 0
    [(served_at, _kind, _path)] = [s for s in homebrew.served if s[1] == "status"]
    during = [path for at, path in homebrew.arrivals if served_at + RACE < at < served_at + PAUSE]
    assert during  # the other workers kept going
