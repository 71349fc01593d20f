"""Bad input at the CLI: one line naming what is wrong, the documented exit code, no traceback."""

from __future__ import annotations

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
