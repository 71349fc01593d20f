"""`bottlesync sync --dest s3://bucket/prefix` as a real process against moto in server mode."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SMALL_CATALOGUE, TEST_TAGS, is_index_key
from tests.fakes.homebrew import FakeFormula, FakeHomebrew
from tests.integration.conftest import bottle_files, write_config

ALL_NAMES = tuple(f.name for f in SMALL_CATALOGUE)
# over the 8 MiB part size: stored by a multipart upload completed only after the digest matched
BIG = FakeFormula("bigpkg", "1.0", tags=("arm64_sequoia",), synthetic_size=(9 << 20) + 4321)
SMALL = ("jq", "x86_64_linux")
PREFIX = "mirror/brew"


def keys(s3_client: Any, bucket: str) -> set[str]:
    """Every object key in the bucket."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def read(s3_client: Any, bucket: str, key: str) -> bytes:
    """One object's bytes."""
    data: bytes = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


@pytest.fixture
def run_s3(bottlesync_process, s3_env: dict[str, str], bucket: str, tmp_path: Path
           ) -> Callable[..., Any]:
    """`bottlesync <command> --config C --dest s3://<bucket>/<PREFIX> ...` against moto."""

    def run(command: str, fake: FakeHomebrew, *args: str) -> Any:
        config = write_config(tmp_path / "s3-config.yaml", fake.source_url, "./unused")
        return bottlesync_process(command, "--config", str(config), "--dest",
                                  f"s3://{bucket}/{PREFIX}", *args, env=s3_env)

    return run


def test_sync_to_s3_lands_bottles_manifest_and_record_under_the_prefix(
    run_s3, homebrew: FakeHomebrew, s3_client: Any, bucket: str
) -> None:
    """GIVEN an empty bucket WHEN sync THEN everything is under the prefix; re-sync fetches none."""
    first = run_s3("sync", homebrew, "--json")
    assert first.code == 0, first.err
    run_id = first.json["run_id"]
    wanted = bottle_files(homebrew, ALL_NAMES, TEST_TAGS)
    stored = keys(s3_client, bucket)
    assert all(k.startswith(PREFIX + "/") for k in stored)
    assert {k for k in stored if k.startswith(f"{PREFIX}/bottles/") and not is_index_key(k)} == {
        f"{PREFIX}/bottles/{f}" for f in wanted}
    record = f"{PREFIX}/runs/{run_id[0:4]}/{run_id[4:6]}/{run_id[6:8]}/{run_id}.json"
    assert json.loads(read(s3_client, bucket, record))["added"] == sorted(wanted)
    manifest = json.loads(read(s3_client, bucket, f"{PREFIX}/bottles_hash.json"))
    assert set(manifest["bottles"]) == wanted
    file = homebrew.file_name("openssl@3", "arm64_sequoia")
    assert read(s3_client, bucket, f"{PREFIX}/bottles/{file}") == homebrew.blob(
        "openssl@3", "arm64_sequoia")

    blobs = homebrew.count("blob")
    second = run_s3("sync", homebrew, "--json")
    assert second.code == 0, second.err
    assert second.json["present"] == second.json["selected"] == len(wanted)
    assert homebrew.count("blob") == blobs


def test_corrupt_bottles_never_appear_in_the_bucket_and_a_rerun_heals(
    run_s3, make_homebrew: Callable[[Sequence[FakeFormula]], FakeHomebrew], s3_client: Any,
    bucket: str
) -> None:
    """GIVEN a big (multipart) and a small bottle always corrupt THEN neither is visible, no
    upload is left incomplete; after the fault clears a re-run lands both and verify passes."""
    fake = make_homebrew([*SMALL_CATALOGUE, BIG])
    big_file, small_file = fake.file_name("bigpkg", "arm64_sequoia"), fake.file_name(*SMALL)
    fake.fault("wrong_bytes", fake.sha256("bigpkg", "arm64_sequoia"), times=-1)
    fake.fault("wrong_bytes", fake.sha256(*SMALL), times=-1)
    result = run_s3("sync", fake, "--json")
    assert result.code == 1
    assert {(f["bottle"], f["error"]) for f in result.json["failures"]} == {
        (big_file, "DigestMismatch"), (small_file, "DigestMismatch")}
    stored = keys(s3_client, bucket)
    assert not any(big_file in k or small_file in k for k in stored)
    assert f"{PREFIX}/bottles/{fake.file_name('wget', 'arm64_sequoia')}" in stored
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    fake.clear_faults()
    again = run_s3("sync", fake, "--json")
    assert again.code == 0, again.err
    assert again.json["mirrored"] == 2
    big = read(s3_client, bucket, f"{PREFIX}/bottles/{big_file}")
    assert hashlib.sha256(big).hexdigest() == fake.sha256("bigpkg", "arm64_sequoia")
    head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/bottles/{big_file}")
    assert head["ETag"].strip('"').endswith("-2")  # two parts: the multipart path ran
    assert read(s3_client, bucket, f"{PREFIX}/bottles/{small_file}") == fake.blob(*SMALL)
    verify = run_s3("verify", fake, "--json")
    assert verify.code == 0, verify.err
    assert verify.json["checked"] == len(bottle_files(fake, ALL_NAMES, TEST_TAGS)) + 1


def test_verify_on_s3_finds_a_tampered_object_and_repairs_it(
    run_s3, homebrew: FakeHomebrew, s3_client: Any, bucket: str
) -> None:
    """GIVEN an object overwritten behind our back THEN verify exits 1, --repair restores it."""
    assert run_s3("sync", homebrew, "--formula", "wget").code == 0
    key = f"{PREFIX}/bottles/{homebrew.file_name('wget', 'arm64_sequoia')}"
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"tampered")
    broken = run_s3("verify", homebrew, "--json")
    assert broken.code == 1
    assert broken.json["corrupt"] == [homebrew.file_name("wget", "arm64_sequoia")]
    repaired = run_s3("verify", homebrew, "--repair", "--json")
    assert repaired.code == 0, repaired.err
    assert read(s3_client, bucket, key) == homebrew.blob("wget", "arm64_sequoia")
