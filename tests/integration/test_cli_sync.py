"""`bottlesync sync` end to end against the fake upstream: mirror, dedup, manifest, run record."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import SMALL_CATALOGUE, TEST_TAGS, bottle_names
from tests.fakes.homebrew import FakeHomebrew
from tests.integration.conftest import WGET_CLOSURE, bottle_files

ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ALL_NAMES = tuple(f.name for f in SMALL_CATALOGUE)


def today() -> str:
    """The UTC day now, as YYYY/MM/DD."""
    return f"{datetime.now(UTC):%Y/%m/%d}"


def test_first_sync_stores_every_bottle_and_the_manifest(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN an empty dest WHEN sync runs THEN every wanted bottle lands and §5 describes it."""
    result = cli("sync", "--json")
    assert result.code == 0, result.err
    wanted = bottle_files(homebrew, ALL_NAMES, TEST_TAGS)
    assert result.json["selected"] == result.json["mirrored"] == len(wanted)
    assert result.json["present"] == 0 and result.json["failed"] == 0
    mirror = tmp_path / "mirror"
    doc = json.loads((mirror / "bottles_hash.json").read_text())
    assert doc["schema"] == 1 and ISO_Z.fullmatch(doc["updated_at"])
    assert set(doc["bottles"]) == wanted
    for name in ALL_NAMES:
        for tag in set(homebrew.formula(name).tags) & {*TEST_TAGS, "all"}:
            file = homebrew.file_name(name, tag)
            stored = doc["bottles"][file]
            assert set(stored) == {"sha256", "size", "key", "synced_at", "run_id"}
            assert stored["sha256"] == homebrew.sha256(name, tag)
            assert stored["size"] == homebrew.size(name, tag)
            assert stored["key"] == f"bottles/{file}"
            assert stored["run_id"] == result.json["run_id"]
            assert ISO_Z.fullmatch(stored["synced_at"])
            assert (mirror / "bottles" / file).read_bytes() == homebrew.blob(name, tag)
    assert result.json["bytes"] == result.json["planned_bytes"] == sum(
        e["size"] for e in doc["bottles"].values())
    assert not list((mirror / ".bottlesync" / "tmp").iterdir())


def test_resync_downloads_nothing_and_keeps_the_manifest(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN a complete mirror WHEN sync runs again THEN no blob is fetched, all are present."""
    first = cli("sync", "--json")
    manifest = (tmp_path / "mirror" / "bottles_hash.json").read_bytes()
    blobs = homebrew.count("blob")
    second = cli("sync", "--json")
    assert second.code == 0, second.err
    assert second.json["present"] == second.json["selected"] == first.json["selected"]
    assert (second.json["mirrored"], second.json["bytes"], second.json["route"]) == (0, 0, "none")
    assert homebrew.count("blob") == blobs
    assert (tmp_path / "mirror" / "bottles_hash.json").read_bytes() == manifest


def test_run_record_lists_planned_added_and_failed(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN one bottle that always arrives corrupt WHEN sync runs THEN its dated record says so."""
    broken = homebrew.file_name("jq", "x86_64_linux")
    homebrew.fault("wrong_bytes", homebrew.sha256("jq", "x86_64_linux"), times=-1)
    days = {today()}
    result = cli("sync", "--json")
    days.add(today())
    assert result.code == 1
    run_id = result.json["run_id"]
    day = f"{run_id[0:4]}/{run_id[4:6]}/{run_id[6:8]}"
    assert day in days
    record = json.loads((tmp_path / "mirror" / "runs" / day / f"{run_id}.json").read_text())
    wanted = bottle_files(homebrew, ALL_NAMES, TEST_TAGS)
    assert set(record["planned_items"]) == wanted
    assert record["added"] == sorted(wanted - {broken})
    assert [(f["bottle"], f["error"]) for f in record["failures"]] == [(broken, "DigestMismatch")]
    assert (record["run_id"], record["mirrored"], record["failed"]) == (run_id, len(wanted) - 1, 1)


def test_formula_limits_the_sync_to_its_dependency_closure(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN --formula wget THEN wget and its runtime dependencies land (`all` too), no more."""
    result = cli("sync", "--formula", "wget", "--json")
    assert result.code == 0, result.err
    wanted = bottle_files(homebrew, WGET_CLOSURE, TEST_TAGS)
    assert homebrew.file_name("ca-certificates", "all") in wanted
    stored = bottle_names(tmp_path / "mirror" / "bottles")
    assert stored == wanted
    assert result.json["selected"] == result.json["mirrored"] == len(wanted) == 9


def test_unknown_formula_is_a_usage_error_that_writes_nothing(cli, tmp_path: Path) -> None:
    """GIVEN --formula that the catalogue lacks THEN exit 2 naming it, dest never created."""
    result = cli("sync", "--formula", "wgett")
    assert result.code == 2
    assert "wgett" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "mirror").exists()


def test_tag_selects_only_that_platform_plus_all(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN --tag sonoma THEN only sonoma bottles and `all` bottles are mirrored."""
    result = cli("sync", "--tag", "sonoma", "--json")
    assert result.code == 0, result.err
    stored = bottle_names(tmp_path / "mirror" / "bottles")
    assert stored == {homebrew.file_name("jq", "sonoma"),
                      homebrew.file_name("ca-certificates", "all")}
    assert result.json["selected"] == 2
