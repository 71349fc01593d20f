"""GIVEN a hostile registry (bodies longer than announced, absurd sizes, a trickle) THEN each
download is bounded: that bottle fails with a named error, nothing of it is visible, the rest lands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.fakes.homebrew import FakeHomebrew

JQ = "jq-1.7.1_2.arm64_sequoia.bottle.tar.gz"


def failures_of(result: CliResult) -> dict[str, str]:
    """bottle file -> error class of a --json run."""
    return {f["bottle"]: f["error"] for f in result.json["failures"]}


def test_a_body_longer_than_announced_is_cut_off(homebrew: FakeHomebrew, tmp_path: Path,
                                                 cli: Callable[..., CliResult]) -> None:
    """GIVEN an index announcing fewer bytes than the blob has THEN BodyTooLarge, not stored."""
    homebrew.announced[("jq", "arm64_sequoia")] = homebrew.size("jq", "arm64_sequoia") - 100
    result = cli("sync", "--json")
    assert result.code == 1
    assert failures_of(result) == {JQ: "BodyTooLarge"}
    assert not (tmp_path / "mirror" / "bottles" / JQ).exists()
    assert result.json["mirrored"] == result.json["selected"] - 1


def test_without_a_size_the_configured_maximum_applies(homebrew: FakeHomebrew, tmp_path: Path,
                                                       cli: Callable[..., CliResult]) -> None:
    """GIVEN no OCI index (size unknown) and max_bottle_size 1 KiB THEN every longer bottle
    fails with BodyTooLarge and nothing is visible."""
    homebrew.fault("status", match="/manifests/", times=-1, code=404)
    result = cli("sync", "--json", max_bottle_size="1 KiB")
    assert result.code == 1
    assert set(failures_of(result).values()) == {"BodyTooLarge"}
    assert result.json["mirrored"] == 0
    assert not (tmp_path / "mirror" / "bottles").exists() or not any(
        p.name.endswith(".tar.gz") for p in (tmp_path / "mirror" / "bottles").iterdir())


def test_an_absurd_announced_size_is_refused_at_plan_time(homebrew: FakeHomebrew,
                                                          cli: Callable[..., CliResult]) -> None:
    """GIVEN an index announcing 100 TB THEN the plan refuses that bottle: never requested."""
    homebrew.announced[("jq", "arm64_sequoia")] = 10**14
    result = cli("sync", "--json")
    assert result.code == 1
    assert failures_of(result) == {JQ: "BodyTooLarge"}
    sha = homebrew.sha256("jq", "arm64_sequoia")
    assert not any(sha in r.path for r in homebrew.requests if "/blobs/" in r.path)
    assert result.json["planned_bytes"] < 10**9


def test_a_trickle_is_given_up(homebrew: FakeHomebrew, tmp_path: Path,
                               cli: Callable[..., CliResult]) -> None:
    """GIVEN a blob host sending one byte every 50 ms (below 1 KiB/s) and low_speed_time 1 s
    THEN that bottle fails with TransferStalled (not retried), the others land."""
    sha = homebrew.sha256("jq", "arm64_sequoia")
    homebrew.fault("trickle", match=sha, times=-1, delay=0.05)
    result = cli("sync", "--json", low_speed_time=1, read_timeout=30)
    assert result.code == 1
    assert failures_of(result) == {JQ: "TransferStalled"}
    assert not (tmp_path / "mirror" / "bottles" / JQ).exists()
    assert homebrew.faults_served["trickle"] == 1


def test_a_trickling_catalogue_is_given_up(homebrew: FakeHomebrew, tmp_path: Path,
                                           cli: Callable[..., CliResult]) -> None:
    """GIVEN the catalogue trickled one byte every 50 ms THEN exit 2 naming the stall, nothing
    written (a catalogue and an OCI index are bounded like a bottle)."""
    homebrew.fault("trickle", match="/api/formula.json", times=-1, delay=0.05)
    result = cli("sync", "--json", low_speed_time=1, read_timeout=30)
    assert result.code == 2
    assert "bytes/s" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "mirror").exists()
