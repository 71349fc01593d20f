"""Verify: re-hash what the manifest lists; repair re-fetches only what the catalogue still has."""

from __future__ import annotations

from pathlib import Path

import pytest

from bottlesync.config import Settings
from bottlesync.manifest import load_manifest
from bottlesync.storage import LocalStorage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from bottlesync.verify import check_mirror, repair_mirror
from tests.fakes.homebrew import FakeHomebrew

SELECTED = 13


@pytest.fixture
def mirror(settings: Settings, upstream: Upstream, tmp_path: Path) -> LocalStorage:
    """A complete mirror of the fake, made by one sync."""
    store = LocalStorage(tmp_path / "mirror")
    report = run_sync(settings, storage=store, upstream=upstream)
    assert report.exit_code == 0 and report.mirrored == SELECTED
    return store


def path_of(store: LocalStorage, homebrew: FakeHomebrew, name: str, tag: str) -> Path:
    """Where the mirror keeps that bottle."""
    return store.root / "bottles" / homebrew.file_name(name, tag)


def test_clean_mirror_verifies(mirror: LocalStorage) -> None:
    """GIVEN an intact mirror THEN every entry checks out and the exit code is 0."""
    report = check_mirror(mirror, concurrency=4)
    assert (report.checked, report.missing, report.corrupt) == (SELECTED, [], [])
    assert report.exit_code == 0


def test_flipped_byte_is_corrupt_and_deleted_is_missing(mirror: LocalStorage,
                                                        homebrew: FakeHomebrew) -> None:
    """GIVEN one byte flipped in one bottle and another deleted THEN corrupt and missing."""
    damaged = path_of(mirror, homebrew, "wget", "arm64_sequoia")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    path_of(mirror, homebrew, "jq", "x86_64_linux").unlink()
    report = check_mirror(mirror, concurrency=4)
    assert report.corrupt == [homebrew.file_name("wget", "arm64_sequoia")]
    assert report.missing == [homebrew.file_name("jq", "x86_64_linux")]
    assert report.exit_code == 1
    assert report.to_json()["checked"] == SELECTED


def test_repair_refetches_broken_bottles(mirror: LocalStorage, homebrew: FakeHomebrew,
                                         upstream: Upstream, settings: Settings) -> None:
    """GIVEN a corrupt and a missing bottle WHEN repaired THEN both are re-fetched and verified."""
    corrupt = path_of(mirror, homebrew, "wget", "arm64_sequoia")
    corrupt.write_bytes(b"garbage")
    path_of(mirror, homebrew, "jq", "x86_64_linux").unlink()
    report = check_mirror(mirror, concurrency=4)
    blobs = homebrew.count("blob")
    repair_mirror(mirror, report, source=settings.source, upstream=upstream, concurrency=4)
    assert sorted(report.repaired) == sorted([homebrew.file_name("wget", "arm64_sequoia"),
                                              homebrew.file_name("jq", "x86_64_linux")])
    assert report.unrepaired == [] and report.exit_code == 0
    assert homebrew.count("blob") - blobs == 2
    assert corrupt.read_bytes() == homebrew.blob("wget", "arm64_sequoia")
    assert check_mirror(mirror, concurrency=4).exit_code == 0


def test_repair_needs_the_same_sha_in_the_catalogue(mirror: LocalStorage,
                                                    homebrew: FakeHomebrew, upstream: Upstream,
                                                    settings: Settings) -> None:
    """GIVEN the catalogue moved to new bytes THEN the broken bottle is not replaced by them."""
    broken = path_of(mirror, homebrew, "libunistring", "arm64_sequoia")
    broken.unlink()
    homebrew.replace_blob("libunistring", "arm64_sequoia", b"a different build")
    report = check_mirror(mirror, concurrency=2)
    repair_mirror(mirror, report, source=settings.source, upstream=upstream, concurrency=2)
    [failure] = report.unrepaired
    assert (failure.bottle, failure.error) == (broken.name, "NotInCatalogue")
    manifest_sha = load_manifest(mirror)[0].bottles[broken.name]["sha256"]
    assert manifest_sha in failure.message
    assert not broken.exists()
    assert report.exit_code == 1


def test_bottle_gone_from_catalogue_is_unrepaired(mirror: LocalStorage, homebrew: FakeHomebrew,
                                                  upstream: Upstream,
                                                  settings: Settings) -> None:
    """GIVEN a formula removed from the catalogue THEN its broken bottle is NotInCatalogue."""
    path_of(mirror, homebrew, "jq", "arm64_sequoia").write_bytes(b"bad")
    homebrew.catalogue[:] = [e for e in homebrew.catalogue if e["name"] != "jq"]
    report = check_mirror(mirror, concurrency=2)
    repair_mirror(mirror, report, source=settings.source, upstream=upstream, concurrency=2)
    assert [(f.bottle, f.error) for f in report.unrepaired] == [
        (homebrew.file_name("jq", "arm64_sequoia"), "NotInCatalogue")]
    assert report.repaired == [] and report.exit_code == 1


def test_failed_refetch_is_unrepaired(mirror: LocalStorage, homebrew: FakeHomebrew,
                                      upstream: Upstream, settings: Settings) -> None:
    """GIVEN the blob host is down during repair THEN the bottle is unrepaired with the cause."""
    path_of(mirror, homebrew, "wget", "x86_64_linux").unlink()
    homebrew.fault("status", match="/ghcr1/blobs/", code=404, times=-1)
    report = check_mirror(mirror, concurrency=2)
    repair_mirror(mirror, report, source=settings.source, upstream=upstream, concurrency=2)
    assert [f.error for f in report.unrepaired] == ["UpstreamError"]
    assert report.exit_code == 1
