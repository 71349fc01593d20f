"""Bad input at the CLI: one line naming what is wrong, the documented exit code, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.homebrew import FakeHomebrew


@pytest.mark.parametrize("source", ["ftp://mirror.example.com/api/formula.json",
                                    "gopher://127.0.0.1/formula.json"])
def test_source_with_another_scheme_exits_2_saying_unsupported_scheme(
        cli, tmp_path: Path, source: str) -> None:
    """GIVEN --source ftp://… THEN exit 2, "unsupported scheme", nothing written."""
    result = cli("sync", "--source", source)
    assert result.code == 2
    assert "unsupported scheme" in result.err and source in result.err
    assert "No such file" not in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "mirror").exists()


def test_empty_catalogue_exits_2_and_writes_nothing(
        cli, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN an upstream that serves `[]` THEN exit 2 (not "nothing to do"), nothing written."""
    homebrew.raw_catalogue = b"[]"
    result = cli("sync", "--json")
    assert result.code == 2
    assert "empty list" in result.err and homebrew.source_url in result.err
    assert result.out == ""
    assert not (tmp_path / "mirror").exists()


def test_a_tag_the_catalogue_lacks_exits_2_listing_its_tags(cli, tmp_path: Path) -> None:
    """GIVEN --tag arm64_bogus (well-formed, unknown) THEN exit 2 listing the catalogue's tags,
    nothing written (not a quiet run that mirrors only `all` bottles)."""
    result = cli("sync", "--tag", "arm64_bogus", "--json")
    assert result.code == 2
    assert "tag 'arm64_bogus' is not in the catalogue" in result.err
    assert "it has: all, arm64_sequoia, sonoma, x86_64_linux" in result.err
    assert result.out == "" and "Traceback" not in result.err
    assert not (tmp_path / "mirror").exists()


def test_a_configured_tag_the_catalogue_lacks_is_a_note_unless_strict(cli, tmp_path: Path
                                                                    ) -> None:
    """GIVEN config.yaml naming a tag the catalogue has no bottle for (a retired platform) THEN
    the scheduled sync still runs (exit 0) and says so in the summary and the run record; with
    strict_tags: true it is the --tag error (exit 2, nothing written)."""
    tags = ["arm64_sequoia", "x86_64_linux", "arm64_retired"]
    human = cli("sync", tags=tags)
    assert human.code == 0, human.err
    assert "tag 'arm64_retired' is not in the catalogue" in human.out
    records = list((tmp_path / "mirror" / "runs").rglob("*T*Z-*.json"))
    assert any("arm64_retired" in " ".join(json.loads(r.read_text()).get("notes", []))
               for r in records)
    strict = cli("sync", "--dest", str(tmp_path / "strict"), tags=tags, strict_tags=True)
    assert strict.code == 2 and "tag 'arm64_retired' is not in the catalogue" in strict.err
    assert not (tmp_path / "strict").exists()


def test_a_named_formula_without_a_bottle_for_the_tag_is_said(cli) -> None:
    """GIVEN --formula wget --tag sonoma (wget has none for sonoma) THEN the summary says so,
    and with --json stderr does while stdout stays the one JSON object."""
    human = cli("sync", "--formula", "wget", "--tag", "sonoma")
    assert human.code == 0, human.err
    assert "  note: wget has no bottle for sonoma\n" in human.out
    machine = cli("sync", "--formula", "wget", "--tag", "sonoma", "--json")
    assert machine.code == 0
    assert "bottlesync: note: wget has no bottle for sonoma" in machine.err
    assert machine.json["selected"] == 1  # ca-certificates' `all` bottle alone
