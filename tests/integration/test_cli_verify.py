"""`bottlesync verify`: re-hash the mirror, name what is corrupt or missing, repair it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import fast_sync
from tests.fakes.homebrew import FakeHomebrew

ROOT = Path(__file__).resolve().parents[2]

CORRUPT = ("wget", "arm64_sequoia")
MISSING = ("openssl@3", "x86_64_linux")


@pytest.fixture
def damaged(cli, homebrew: FakeHomebrew, tmp_path: Path) -> tuple[str, str]:
    """A synced mirror with one bottle's byte flipped and another deleted."""
    assert cli("sync").code == 0
    bottles = tmp_path / "mirror" / "bottles"
    corrupt, missing = homebrew.file_name(*CORRUPT), homebrew.file_name(*MISSING)
    data = bytearray((bottles / corrupt).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bottles / corrupt).write_bytes(bytes(data))
    (bottles / missing).unlink()
    return corrupt, missing


def test_verify_of_a_clean_mirror_exits_0(cli) -> None:
    """GIVEN a fresh sync THEN verify checks every entry and finds nothing wrong."""
    assert cli("sync").code == 0
    result = cli("verify", "--json")
    assert result.code == 0, result.err
    assert result.json == {"checked": 13, "missing": [], "corrupt": [], "repaired": [],
                           "unrepaired": []}


def test_verify_names_the_corrupt_and_the_missing_bottle(cli, damaged: tuple[str, str]) -> None:
    """GIVEN a flipped byte and a deleted file THEN verify exits 1 naming each."""
    corrupt, missing = damaged
    result = cli("verify")
    assert result.code == 1
    assert f"corrupt: {corrupt}" in result.out and f"missing: {missing}" in result.out
    report = cli("verify", "--json").json
    assert (report["corrupt"], report["missing"]) == ([corrupt], [missing])


def test_repair_refetches_both_and_a_second_verify_passes(
    cli, homebrew: FakeHomebrew, tmp_path: Path, damaged: tuple[str, str]
) -> None:
    """GIVEN a damaged mirror WHEN verify --repair THEN both are re-fetched and verified."""
    blobs = homebrew.count("blob")
    result = cli("verify", "--repair", "--json")
    assert result.code == 0, result.out + result.err
    assert sorted(result.json["repaired"]) == sorted(damaged)
    assert homebrew.count("blob") == blobs + 2
    bottles = tmp_path / "mirror" / "bottles"
    for name, tag in (CORRUPT, MISSING):
        assert (bottles / homebrew.file_name(name, tag)).read_bytes() == homebrew.blob(name, tag)
    again = cli("verify", "--json")
    assert again.code == 0 and again.json["corrupt"] == again.json["missing"] == []


def test_repair_that_cannot_fetch_exits_1_naming_the_bottle(
    cli, homebrew: FakeHomebrew, damaged: tuple[str, str]
) -> None:
    """GIVEN upstream corrupts the re-fetch THEN repair reports it unrepaired and exits 1."""
    corrupt, _ = damaged
    homebrew.fault("wrong_bytes", homebrew.sha256(*CORRUPT), times=-1)
    result = cli("verify", "--repair", "--json")
    assert result.code == 1
    assert [(f["bottle"], f["error"]) for f in result.json["unrepaired"]] == [
        (corrupt, "DigestMismatch")]


def test_verify_takes_the_documented_flags(cli, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN verify with --config, --env (whose sync.dest names the mirror), --concurrency,
    --json THEN it checks that mirror; --source names the catalogue --repair fetches from."""
    other = tmp_path / "other"
    assert cli("sync", "--dest", str(other)).code == 0
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["sync"] = fast_sync(homebrew.source_url, str(tmp_path / "nowhere"))
    config["environments"]["dev"]["sync"] = {"dest": str(other)}
    path = tmp_path / "env-config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = cli("verify", "--config", str(path), "--env", "dev", "--concurrency", "1", "--json")
    assert (result.code, result.json["checked"]) == (0, 13), result.err
    victim = other / "bottles" / homebrew.file_name(*MISSING)
    victim.unlink()
    bad_source = cli("verify", "--config", str(path), "--env", "dev", "--repair", "--json",
                     "--source", str(tmp_path / "no-such-catalogue.json"))
    assert bad_source.code == 2 and "no-such-catalogue.json" in bad_source.err
    repaired = cli("verify", "--config", str(path), "--env", "dev", "--repair", "--json",
                   "--source", homebrew.source_url)
    assert repaired.code == 0 and repaired.json["repaired"] == [victim.name]
    assert not (tmp_path / "nowhere").exists()


def test_verify_without_a_manifest_exits_2(cli, tmp_path: Path) -> None:
    """GIVEN a destination with no bottles_hash.json THEN exit 2 naming it (is --dest right?)."""
    result = cli("verify", "--json")
    assert result.code == 2
    assert "bottles_hash.json does not exist: nothing to verify" in result.err
    assert result.out == "" and "Traceback" not in result.err
