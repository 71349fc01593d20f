"""Changing --layout on an existing mirror: present means "under this layout's key", and what the
destination already holds is copied within it (verified), never downloaded again."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import SMALL_CATALOGUE, TEST_TAGS, is_index_key
from tests.fakes.homebrew import FakeHomebrew
from tests.integration.conftest import bottle_files, write_config


def manifest(mirror: Path) -> dict[str, Any]:
    """bottles_hash.json's entries."""
    return dict(json.loads((mirror / "bottles_hash.json").read_text())["bottles"])


def record(mirror: Path, run_id: str) -> dict[str, Any]:
    """The run record of `run_id`."""
    path = mirror / "runs" / run_id[0:4] / run_id[4:6] / run_id[6:8] / f"{run_id}.json"
    return dict(json.loads(path.read_text()))


def test_new_layout_is_built_by_copying_and_verify_checks_it(
        cli, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a bottle-domain mirror WHEN re-run with --layout artifact-domain THEN nothing is
    present under v2/ yet, every bottle is copied there (no blob downloaded), the manifest
    names the v2 keys, and verify re-hashes those keys."""
    mirror = tmp_path / "mirror"
    first = cli("sync", "--json")
    assert first.code == 0, first.err
    blobs = homebrew.count("blob")
    dry = cli("sync", "--layout", "artifact-domain", "--dry-run")
    assert f"present 0, to fetch {first.json['selected']}" in dry.out
    assert f"{first.json['selected']} of them copied from another layout's keys" in dry.out

    second = cli("sync", "--layout", "artifact-domain", "--json")
    assert second.code == 0, second.err
    report = second.json
    assert (report["present"], report["mirrored"], report["bytes"]) == (report["selected"], 0, 0)
    assert homebrew.count("blob") == blobs  # nothing downloaded again
    entries = manifest(mirror)
    assert len(entries) == report["selected"]
    for file, entry in entries.items():
        assert entry["key"].startswith("v2/homebrew/core/"), file
        assert (mirror / entry["key"]).read_bytes() == (mirror / "bottles" / file).read_bytes()
        assert entry["run_id"] == report["run_id"]
    assert record(mirror, report["run_id"])["copied"] == report["selected"]
    human = cli("sync", "--layout", "artifact-domain")
    assert f"present {report['selected']}  mirrored 0" in human.out

    (mirror / "bottles" / next(iter(entries))).write_bytes(b"old copy: no longer verified")
    assert cli("verify", "--json").code == 0
    victim = next(iter(entries.values()))["key"]
    (mirror / victim).write_bytes(b"not the bottle")
    verify = cli("verify", "--json")
    assert verify.code == 1
    assert verify.json["checked"] == report["selected"]
    assert verify.json["corrupt"] == [next(iter(entries))]


def test_dated_layout_after_bottle_domain_copies_into_the_day_folder(
        cli, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a bottle-domain mirror WHEN re-run with --layout dated THEN the day folder holds
    every bottle (copied), and a later dated run finds them present under their day's key."""
    mirror = tmp_path / "mirror"
    assert cli("sync").code == 0
    blobs = homebrew.count("blob")
    dated = cli("sync", "--layout", "dated", "--json").json
    run_id = dated["run_id"]
    day = f"{run_id[0:4]}-{run_id[4:6]}-{run_id[6:8]}"
    wanted = bottle_files(homebrew, tuple(f.name for f in SMALL_CATALOGUE), TEST_TAGS)
    stored = {p.name for p in (mirror / day).iterdir() if p.is_file()}
    assert stored == wanted
    assert homebrew.count("blob") == blobs
    again = cli("sync", "--layout", "dated", "--json").json
    assert (again["present"], again["mirrored"]) == (again["selected"], 0)
    assert all(e["key"] == f"{day}/{f}" for f, e in manifest(mirror).items())


def test_a_damaged_old_copy_is_fetched_instead(
        cli, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN the old layout's copy of one bottle is corrupt WHEN the layout changes THEN that
    one bottle is downloaded (the copy is verified, never trusted) and the rest are copied."""
    mirror = tmp_path / "mirror"
    assert cli("sync").code == 0
    file = homebrew.file_name("jq", "arm64_sequoia")
    (mirror / "bottles" / file).write_bytes(b"rotten")
    report = cli("sync", "--layout", "artifact-domain", "--json").json
    assert (report["mirrored"], report["failed"]) == (1, 0)
    assert report["present"] == report["selected"] - 1
    key = manifest(mirror)[file]["key"]
    assert (mirror / key).read_bytes() == homebrew.blob("jq", "arm64_sequoia")
    assert not [p for p in mirror.rglob("*.part") if not is_index_key(str(p))]


def test_merged_day_folders_serve_like_a_bottle_domain(
        cli, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN dated deltas merged into one folder THEN it holds exactly what a bottle-domain
    mirror serves under bottles/ (bottles and OCI indexes, byte for byte): what the summary's
    "serve it" line and the README promise."""
    dated, plain = tmp_path / "dated", tmp_path / "plain"
    human = cli("sync", "--layout", "dated", "--dest", str(dated))
    assert human.code == 0, human.err
    assert "merge the day folders into one folder and set HOMEBREW_BOTTLE_DOMAIN=" in human.out
    assert cli("sync", "--dest", str(plain)).code == 0
    merged = {}
    for day in sorted(p for p in dated.iterdir() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.name)):
        assert f"this run's bottles: {dated}/{day.name}/" in human.out
        merged.update({f.relative_to(day).as_posix(): f.read_bytes()
                       for f in day.rglob("*") if f.is_file()})
    served = {f.relative_to(plain / "bottles").as_posix(): f.read_bytes()
              for f in (plain / "bottles").rglob("*") if f.is_file()}
    assert merged == served and any(is_index_key(k) for k in merged)


def test_layout_change_on_s3_copies_within_the_bucket(
        bottlesync_process, s3_env: dict[str, str], bucket: str, s3_client: Any,
        homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a bottle-domain mirror in S3 WHEN re-run with --layout artifact-domain THEN each
    bottle is streamed from its old key into its v2 key (verified), no blob downloaded."""
    config = write_config(tmp_path / "s3.yaml", homebrew.source_url, "./unused")

    def sync(*args: str) -> Any:
        return bottlesync_process("sync", "--config", str(config), "--dest",
                                  f"s3://{bucket}/m", "--json", *args, env=s3_env)

    assert sync().code == 0
    blobs = homebrew.count("blob")
    second = sync("--layout", "artifact-domain")
    assert second.code == 0, second.err
    assert (second.json["present"], second.json["mirrored"]) == (second.json["selected"], 0)
    assert homebrew.count("blob") == blobs
    entries = json.loads(s3_client.get_object(Bucket=bucket, Key="m/bottles_hash.json")[
        "Body"].read())["bottles"]
    for file, entry in entries.items():
        assert entry["key"].startswith("v2/homebrew/core/")
        body = s3_client.get_object(Bucket=bucket, Key=f"m/{entry['key']}")["Body"].read()
        assert body == s3_client.get_object(Bucket=bucket, Key=f"m/bottles/{file}")[
            "Body"].read()
