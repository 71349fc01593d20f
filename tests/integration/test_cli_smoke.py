"""GIVEN the fake upstream WHEN bottlesync sync runs twice THEN the second run fetches nothing."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.homebrew import FakeHomebrew


def test_first_sync_mirrors_then_resync_downloads_nothing(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    first = cli("sync", "--json")
    assert first.code == 0, first.err
    assert first.json["mirrored"] == first.json["selected"] > 0
    blobs = homebrew.count("blob")
    second = cli("sync", "--json")
    assert second.code == 0
    assert second.json["present"] == first.json["selected"]
    assert second.json["mirrored"] == 0 and second.json["route"] == "none"
    assert homebrew.count("blob") == blobs
    assert homebrew.auth_leaks == []
    mirrored = tmp_path / "mirror" / "bottles" / homebrew.file_name("wget", "arm64_sequoia")
    assert mirrored.read_bytes() == homebrew.blob("wget", "arm64_sequoia")
