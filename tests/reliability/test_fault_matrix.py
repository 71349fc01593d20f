"""GIVEN an upstream misbehaving in every way WHEN a sync runs THEN nothing wrong is visible.

For each fault: the exit status is right, good bottles land, a bad one is reported with a typed
error, nothing unverified is visible, the manifest matches storage, and a clean re-run converges.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bottlesync.storage import LocalStorage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from tests.conftest import CliResult, fast_settings
from tests.fakes.homebrew import FakeHomebrew, free_port_url
from tests.reliability.conftest import (
    SleepRecorder,
    assert_consistent,
    assert_converged,
    catalogue_shas,
    many_formulae,
    sync_once,
)

VICTIM = ("libidn2", "arm64_sequoia")
TRANSIENT = "TransientUpstreamError"


@dataclass(frozen=True)
class Fault:
    """One fault kind aimed at the registry (`/blobs/` request) or the blob host's body."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()
    on: str = "blob_host"
    retried: bool = True  # a retry can get past it
    error: str = TRANSIENT

    def inject(self, homebrew: FakeHomebrew, name: str, tag: str, times: int) -> None:
        """Aim this fault at one bottle's request."""
        sha = homebrew.sha256(name, tag)
        image = homebrew.formula(name).image
        where = "/ghcr1" if self.on == "blob_host" else f"/{image}"
        match = f"{where}/blobs/sha256:{sha}"
        homebrew.fault(self.kind, match, times, **dict(self.params))

    def __str__(self) -> str:
        return "-".join([self.kind, *(f"{k}={v}" for k, v in self.params), self.on])


def _refused() -> str:
    return free_port_url() + "ghcr1/blobs/x"


STATUS = [Fault("status", (("code", c),), on="registry") for c in (408, 500, 502, 503, 504)]
STATUS += [Fault("status", (("code", c), ("retry_after", 1)), on=where)
           for c in (429, 503) for where in ("registry", "blob_host")]
STATUS += [Fault("status", (("code", 429),), on="registry")]
BODY = [Fault("reset"), Fault("truncate"), Fault("wrong_length"), Fault("stall", (("seconds", 2),))]
NOT_RETRIED = [
    Fault("wrong_bytes", retried=False, error="DigestMismatch"),
    Fault("html", on="registry", retried=False, error="DigestMismatch"),
    Fault("html", retried=False, error="DigestMismatch"),
    Fault("redirect_to", (("url", "https://evil.example.net/blob"),), on="registry",
          retried=False, error="DisallowedURL"),
    Fault("redirect_to", (("url", "http://pkg-containers.githubusercontent.com/b"),),
          retried=False, on="registry", error="DisallowedURL"),
]
LOOP = Fault("redirect_loop", on="registry", error="UpstreamError")
RETRYABLE = [*STATUS, *BODY]
FAST = {"read_timeout": 0.5, "attempts": 3}


def _run(cli: Callable[..., CliResult], **overrides: Any) -> CliResult:
    """`bottlesync sync --json` with the fast test settings."""
    return cli("sync", "--json", **{**FAST, **overrides})


def _failures(result: CliResult) -> dict[str, str]:
    return {f["bottle"]: f["error"] for f in result.json["failures"]}


def _recover_and_converge(cli: Callable[..., CliResult], homebrew: FakeHomebrew, dest: Path,
                          failed: int) -> None:
    """With the upstream healthy again, one re-run fetches exactly what failed and converges."""
    homebrew.clear_faults()
    again = _run(cli)
    assert again.code == 0, again.out + again.err
    assert again.json["mirrored"] == failed
    assert again.json["present"] == again.json["selected"] - failed
    assert_converged(dest, homebrew)
    assert cli("verify", "--json").code == 0
    assert homebrew.auth_leaks == []


@pytest.mark.parametrize("fault", [*RETRYABLE, LOOP], ids=str)
def test_a_fault_that_clears_within_the_attempts_costs_nothing(
    cli: Callable[..., CliResult], homebrew: FakeHomebrew, tmp_path: Path, fault: Fault
) -> None:
    """GIVEN a transient fault on one bottle fewer times than the attempts THEN the run is clean."""
    fault.inject(homebrew, *VICTIM, times=FAST["attempts"] - 1 if fault is not LOOP else 1)
    result = _run(cli)
    assert result.code == 0, result.out + result.err
    assert result.json["failed"] == 0
    assert result.json["mirrored"] == result.json["selected"] == 13
    assert homebrew.faults_served[fault.kind] >= 1
    assert_converged(tmp_path / "mirror", homebrew)


@pytest.mark.parametrize("fault", [*RETRYABLE, *NOT_RETRIED, LOOP], ids=str)
def test_a_persistent_fault_fails_only_its_bottle_and_a_rerun_converges(
    cli: Callable[..., CliResult], homebrew: FakeHomebrew, tmp_path: Path, fault: Fault
) -> None:
    """GIVEN a fault that never clears on one bottle THEN only that bottle fails, typed, unseen."""
    fault.inject(homebrew, *VICTIM, times=-1)
    dest = tmp_path / "mirror"
    result = _run(cli, read_timeout=0.3)
    assert result.code == 1, result.out + result.err
    victim = homebrew.file_name(*VICTIM)
    assert _failures(result) == {victim: fault.error}
    assert result.json["mirrored"] == result.json["selected"] - 1
    visible = assert_consistent(dest, catalogue_shas(homebrew))
    assert victim not in visible
    _recover_and_converge(cli, homebrew, dest, failed=1)


@pytest.mark.parametrize("times", [2, -1])
def test_connection_refused_is_transient(
    cli: Callable[..., CliResult], homebrew: FakeHomebrew, tmp_path: Path, times: int
) -> None:
    """GIVEN the blob host refuses connections THEN it is retried, and reported only if it lasts."""
    Fault("redirect_to", (("url", _refused()),), on="registry").inject(homebrew, *VICTIM, times)
    result = _run(cli)
    assert homebrew.faults_served["redirect_to"] >= 1
    if times > 0:
        assert result.code == 0, result.out + result.err
        assert_converged(tmp_path / "mirror", homebrew)
        return
    assert result.code == 1
    assert _failures(result) == {homebrew.file_name(*VICTIM): TRANSIENT}
    assert "refused" in result.json["failures"][0]["message"].lower()
    _recover_and_converge(cli, homebrew, tmp_path / "mirror", failed=1)


def test_every_bottle_failing_leaves_an_empty_but_consistent_mirror(
    cli: Callable[..., CliResult], homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN the blob host answers 503 to everything THEN nothing lands and the re-run converges."""
    homebrew.fault("status", "/ghcr1/blobs/", -1, code=503)
    result = _run(cli)
    assert result.code == 1
    assert set(_failures(result).values()) == {TRANSIENT}
    assert result.json["mirrored"] == 0 and result.json["failed"] == 13
    assert assert_consistent(tmp_path / "mirror", catalogue_shas(homebrew)) == {}
    _recover_and_converge(cli, homebrew, tmp_path / "mirror", failed=13)


@pytest.mark.parametrize("times", [1, -1])
def test_catalogue_outage_is_retried_then_fatal_with_nothing_written(
    cli: Callable[..., CliResult], homebrew: FakeHomebrew, tmp_path: Path, times: int
) -> None:
    """GIVEN the catalogue answers 503 THEN a blip is retried; an outage exits 2 writing nothing."""
    homebrew.fault("status", "/api/formula.json", times, code=503, retry_after=1)
    result = _run(cli)
    if times > 0:
        assert result.code == 0, result.err
        return
    assert result.code == 2
    assert result.out == "" and "catalogue" in result.err
    assert not (tmp_path / "mirror").exists()


def test_oci_index_outage_leaves_sizes_unknown_but_mirrors(
    cli: Callable[..., CliResult], homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN every OCI index answers 502 THEN sizes are unknown yet every bottle lands."""
    homebrew.fault("status", "/manifests/", -1, code=502)
    result = _run(cli)
    assert result.code == 0, result.err
    assert result.json["planned_bytes"] == 0 and result.json["mirrored"] == 13
    assert_converged(tmp_path / "mirror", homebrew)


def test_absurd_retry_after_is_capped(homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN 429s asking for a day (delta and HTTP date) THEN every sleep is at the cap."""
    for retry_after in (86_400, "Fri, 31 Dec 2100 23:59:59 GMT"):
        homebrew.fault("status", "/ghcr1/blobs/", 1, code=429, retry_after=retry_after)
        homebrew.fault("status", "/manifests/", 1, code=503, retry_after=retry_after)
    sleeps = SleepRecorder(ceiling=0.25)
    started = time.monotonic()
    report = sync_once(homebrew, tmp_path / "m", sleep=sleeps, max_retry_after=0.2,
                       attempts=5, concurrency=2)
    assert time.monotonic() - started < 60  # uncapped, this would take days
    assert report.exit_code == 0
    assert homebrew.faults_served["status"] == 4
    assert sleeps.asked and max(sleeps.asked) <= 0.2
    assert sleeps.asked.count(0.2) >= 4  # each 429/503 retry slept exactly the cap
    assert_converged(tmp_path / "m", homebrew)


def test_catalogue_changing_between_plan_and_mirror(homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a bottle rebuilt after planning THEN the planned bytes land, the re-run updates.

    The planned digest is still served, so it lands; the manifest says exactly what is stored; the
    next run sees the new digest, re-fetches it, and storage and manifest agree again.
    """
    dest = tmp_path / "m"
    settings = fast_settings(homebrew.source_url, dest)
    old = catalogue_shas(homebrew)

    def rebuild_upstream(plan: Any) -> None:
        homebrew.replace_blob(*VICTIM, b"rebuilt bottle bytes")
        homebrew.replace_blob("jq", "x86_64_linux", b"another")

    with Upstream(settings) as upstream:
        report = run_sync(settings, storage=LocalStorage(dest), upstream=upstream,
                          on_plan=rebuild_upstream)
    assert report.exit_code == 0
    assert assert_consistent(dest, old) == {f: s for f, s in old.items() if ".sonoma." not in f}
    again = sync_once(homebrew, dest)
    assert again.exit_code == 0 and again.mirrored == 2
    assert_converged(dest, homebrew)


def test_catalogue_changing_to_bytes_the_registry_does_not_serve(
    homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN the registry serves other bytes than the plan's digest THEN DigestMismatch, unseen."""
    dest = tmp_path / "m"
    homebrew.fault("wrong_bytes", f"/ghcr1/blobs/sha256:{homebrew.sha256(*VICTIM)}", -1)
    report = sync_once(homebrew, dest)
    assert [f.error for f in report.failures] == ["DigestMismatch"]
    assert homebrew.file_name(*VICTIM) not in assert_consistent(dest, catalogue_shas(homebrew))
    assert not list((dest / ".bottlesync" / "tmp").glob("*.part"))
    homebrew.clear_faults()
    assert sync_once(homebrew, dest).exit_code == 0
    assert_converged(dest, homebrew)


KINDS: list[Fault] = [*RETRYABLE, *NOT_RETRIED, LOOP]


@pytest.mark.parametrize("seed", range(6))
def test_mixed_faults_at_random(make_homebrew: Callable[..., FakeHomebrew], tmp_path: Path,
                                seed: int) -> None:
    """GIVEN random faults on random bottles (seeded) THEN only faulted bottles may fail, typed."""
    rng = random.Random(seed)
    homebrew = make_homebrew(many_formulae(12))
    bottles = [(f.name, tag) for f in many_formulae(12) for tag in f.tags]
    victims = rng.sample(bottles, 8)
    for name, tag in victims:
        fault = rng.choice(KINDS)
        fault.inject(homebrew, name, tag, times=rng.choice([1, 2, -1]))
    dest = tmp_path / "m"
    report = sync_once(homebrew, dest, read_timeout=0.3, concurrency=4)
    faulted = {homebrew.file_name(n, t) for n, t in victims}
    assert {f.bottle for f in report.failures} <= faulted
    assert {f.error for f in report.failures} <= {k.error for k in KINDS}
    assert report.exit_code == (1 if report.failures else 0)
    assert report.mirrored == len(bottles) - len(report.failures)
    visible = assert_consistent(dest, catalogue_shas(homebrew))
    assert set(visible) == {homebrew.file_name(*b) for b in bottles} - {
        f.bottle for f in report.failures}
    homebrew.clear_faults()
    assert sync_once(homebrew, dest).mirrored == len(report.failures)
    assert_converged(dest, homebrew)
