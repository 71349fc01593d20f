"""What a person or a script sees: --dry-run, --json, --quiet, the summary, real exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SMALL_CATALOGUE
from tests.fakes.homebrew import FakeHomebrew
from tests.integration.conftest import write_config

CONTRACT_KEYS = {"run_id", "selected", "present", "seeded", "mirrored", "failed", "planned_bytes",
                 "bytes", "route", "failures"}
FAILURE_KEYS = {"bottle", "error", "message"}
BROKEN = ("jq", "arm64_sequoia")


def test_dry_run_prints_the_plan_fetches_indexes_but_no_blob(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN --dry-run THEN the plan is printed, OCI indexes are read, nothing is downloaded."""
    result = cli("sync", "--dry-run")
    assert result.code == 0, result.err
    assert result.out.startswith("plan ")
    assert "selected 13, present 0, to fetch 13" in result.out
    assert f"+ bottles/{homebrew.file_name('wget', 'arm64_sequoia')} (" in result.out
    assert homebrew.count("catalogue") == 1
    assert homebrew.count("manifest") == len(SMALL_CATALOGUE)
    assert homebrew.count("blob") == homebrew.count("blob_host") == 0
    assert not (tmp_path / "mirror").exists()


def test_dry_run_json_counts_what_is_present_and_the_planned_bytes(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN a partial mirror WHEN --dry-run --json THEN present and planned_bytes are right."""
    assert cli("sync", "--formula", "openssl@3").code == 0
    before = sorted(p.as_posix() for p in (tmp_path / "mirror").rglob("*"))
    blobs = homebrew.count("blob")
    result = cli("sync", "--dry-run", "--json")
    assert result.code == 0, result.err
    report = result.json
    assert set(report) == CONTRACT_KEYS
    assert (report["selected"], report["present"], report["mirrored"]) == (13, 3, 0)
    fetch = [(f.name, t) for f in SMALL_CATALOGUE for t in f.tags
             if t != "sonoma" and f.name not in ("openssl@3", "ca-certificates")]
    assert report["planned_bytes"] == sum(homebrew.size(n, t) for n, t in fetch)
    assert (report["bytes"], report["route"]) == (0, "lambda")
    assert homebrew.count("blob") == blobs
    assert sorted(p.as_posix() for p in (tmp_path / "mirror").rglob("*")) == before


def test_json_is_exactly_the_contract_object(cli, homebrew: FakeHomebrew) -> None:
    """GIVEN a failing bottle WHEN --json THEN stdout is one object with only the contract keys."""
    homebrew.fault("wrong_bytes", homebrew.sha256(*BROKEN), times=-1)
    result = cli("sync", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert set(report) == CONTRACT_KEYS
    assert report["failed"] == len(report["failures"]) == 1
    assert set(report["failures"][0]) == FAILURE_KEYS
    assert report["failures"][0]["bottle"] == homebrew.file_name(*BROKEN)
    assert report["route"] == "lambda"
    assert report["bytes"] == report["planned_bytes"] - homebrew.size(*BROKEN)


def test_quiet_prints_nothing_on_success(cli) -> None:
    """GIVEN --quiet and a clean sync THEN both streams stay empty."""
    result = cli("sync", "--quiet")
    assert (result.code, result.out) == (0, "")
    assert result.err == ""


def test_quiet_prints_only_the_failures(cli, homebrew: FakeHomebrew) -> None:
    """GIVEN --quiet and a failing bottle THEN stderr names it and stdout is empty."""
    homebrew.fault("status", homebrew.sha256(*BROKEN), times=1, code=404)
    result = cli("sync", "--quiet")
    assert (result.code, result.out) == (1, "")
    assert f"bottlesync: {homebrew.file_name(*BROKEN)}: UpstreamError:" in result.err


def test_human_summary_reports_counts_and_how_to_serve(cli, tmp_path: Path) -> None:
    """GIVEN no --json/--quiet THEN a short summary with counts and the serving hint."""
    result = cli("sync")
    assert result.code == 0, result.err
    assert f"-> {tmp_path / 'mirror'} (bottle-domain)" in result.out
    assert "selected 13  present 0  mirrored 13  failed 0  route lambda" in result.out
    assert "HOMEBREW_BOTTLE_DOMAIN=" in result.out
    assert len(result.out.splitlines()) <= 10


@pytest.fixture
def config(homebrew: FakeHomebrew, tmp_path: Path) -> str:
    """A config file for the real process, pointing at the fake."""
    return str(write_config(tmp_path / "test-config.yaml", homebrew.source_url,
                            str(tmp_path / "mirror")))


def test_process_json_stdout_is_pure_even_with_failures(
    bottlesync_process, homebrew: FakeHomebrew, config: str
) -> None:
    """GIVEN a real process and a failing bottle THEN stdout is one JSON line, exit 1, no trace."""
    homebrew.fault("wrong_bytes", homebrew.sha256(*BROKEN), times=-1)
    result = bottlesync_process("sync", "--config", config, "--json")
    assert result.code == 1
    assert result.out.count("\n") == 1 and set(result.json) == CONTRACT_KEYS
    assert "Traceback" not in result.err
    assert homebrew.file_name(*BROKEN) in result.err


def test_process_success_prints_a_summary_without_progress_noise(
    bottlesync_process, config: str
) -> None:
    """GIVEN a real process, not on a terminal THEN exit 0, a summary, nothing on stderr."""
    result = bottlesync_process("sync", "--config", config)
    assert result.code == 0, result.err
    assert result.out.startswith("run ") and "mirrored 13" in result.out
    assert result.err == ""


def test_process_unfetchable_catalogue_exits_2_without_traceback(
    bottlesync_process, homebrew: FakeHomebrew, config: str, tmp_path: Path
) -> None:
    """GIVEN a 404 catalogue THEN the real process exits 2 naming the URL, writing nothing."""
    homebrew.fault("status", "/api/formula.json", times=-1, code=404)
    result = bottlesync_process("sync", "--config", config, "--json")
    assert (result.code, result.out) == (2, "")
    assert homebrew.source_url in result.err and "Traceback" not in result.err
    assert not (tmp_path / "mirror").exists()


def test_process_bad_usage_exits_2(bottlesync_process, config: str) -> None:
    """GIVEN an unknown layout THEN argparse's usage error, exit 2."""
    result = bottlesync_process("sync", "--config", config, "--layout", "flat")
    assert result.code == 2 and "--layout" in result.err and "Traceback" not in result.err


def test_unresolvable_source_fails_fast_without_traceback(
    bottlesync_process, tmp_path: Path
) -> None:
    """GIVEN no internet (a host that cannot resolve) THEN exit 2 naming the URL, no trace."""
    source = "https://formulae.invalid/api/formula.json"
    result = bottlesync_process("sync", "--source", source, "--dest", str(tmp_path / "m"),
                                "--tag", "arm64_sequoia")
    assert (result.code, result.out) == (2, "")
    assert source in result.err and "Traceback" not in result.err
    assert not (tmp_path / "m").exists()
