"""--seed-manifest (https:// or s3://) counts another mirror's bottles as present; mock_aws S3."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import TEST_TAGS, bottle_names, is_index_key
from tests.fakes.homebrew import FakeHomebrew
from tests.integration.conftest import DUMMY_AWS, REGION, WGET_CLOSURE, bottle_files


def fetched(fake: FakeHomebrew, sha: str, since: int) -> bool:
    """Whether a registry blob request after the first `since` requests asked for this digest."""
    return any(r.host == "registry" and "/blobs/" in r.path and sha in r.path
               for r in fake.requests[since:])


def seeded(fake: FakeHomebrew) -> dict[str, str]:
    """A flat {file: sha256} hash source naming wget's closure (the original system's format)."""
    names = WGET_CLOSURE
    return {fake.file_name(n, t): fake.sha256(n, t) for n in names
            for t in fake.formula(n).tags if t in {*TEST_TAGS, "all"}}


def assert_seed_counted(fake: FakeHomebrew, mirror: Path, result: Any, seed: dict[str, str],
                        since: int = 0) -> None:
    """Seeded bottles are counted apart (not present: not here) and never downloaded; everything
    else landed."""
    assert result.code == 0, result.err
    assert result.json["seeded"] == len(seed) == 9
    assert result.json["present"] == 0
    assert result.json["mirrored"] == result.json["selected"] - len(seed)
    assert not any(fetched(fake, sha, since) for sha in seed.values())
    stored = bottle_names(mirror / "bottles")
    assert not stored & set(seed)


def test_seed_manifest_over_loopback_http(
    cli, homebrew: FakeHomebrew, tmp_path: Path, serve_bytes: Callable[[str, bytes], str]
) -> None:
    """GIVEN a flat hash source served over http(s) THEN its bottles are not downloaded."""
    seed = seeded(homebrew)
    url = serve_bytes("/hashes/bottles_hash.json", json.dumps(seed).encode())
    result = cli("sync", "--seed-manifest", url, "--json")
    assert_seed_counted(homebrew, tmp_path / "mirror", result, seed)


def test_seed_manifest_in_our_own_format(
    cli, homebrew: FakeHomebrew, tmp_path: Path, serve_bytes: Callable[[str, bytes], str]
) -> None:
    """GIVEN another mirror's bottles_hash.json as the seed THEN its bottles count as present."""
    other = tmp_path / "other"
    assert cli("sync", "--formula", "wget", "--dest", str(other)).code == 0
    url = serve_bytes("/bottles_hash.json", (other / "bottles_hash.json").read_bytes())
    since = len(homebrew.requests)
    result = cli("sync", "--seed-manifest", url, "--json")
    assert_seed_counted(homebrew, tmp_path / "mirror", result, seeded(homebrew), since)


def test_unreadable_seed_manifest_exits_2_and_writes_nothing(
    cli, tmp_path: Path, serve_bytes: Callable[[str, bytes], str]
) -> None:
    """GIVEN a seed URL that answers 404 THEN exit 2 naming it, nothing written."""
    url = serve_bytes("/elsewhere.json", b"{}").replace("/elsewhere.json", "/missing.json")
    result = cli("sync", "--seed-manifest", url)
    assert result.code == 2
    assert url in result.err and "Traceback" not in result.err
    assert not (tmp_path / "mirror").exists()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """In-process moto (mock_aws) with dummy credentials; yields an S3 client."""
    for name, value in DUMMY_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("s3", region_name=REGION)


def test_seed_manifest_from_s3(cli, homebrew: FakeHomebrew, tmp_path: Path, aws: Any) -> None:
    """GIVEN a hash source in a bucket (mock_aws) THEN its bottles count as present."""
    seed = seeded(homebrew)
    aws.create_bucket(Bucket="seed-bucket")
    aws.put_object(Bucket="seed-bucket", Key="hashes/bottles_hash.json",
                   Body=json.dumps(seed).encode())
    result = cli("sync", "--seed-manifest", "s3://seed-bucket/hashes/bottles_hash.json", "--json")
    assert_seed_counted(homebrew, tmp_path / "mirror", result, seed)


def test_in_process_sync_to_s3_and_dry_run_writes_nothing(
    cli, homebrew: FakeHomebrew, aws: Any
) -> None:
    """GIVEN mock_aws WHEN a dry run, then a sync, to s3:// THEN only the sync writes objects."""
    aws.create_bucket(Bucket="mirror-bucket")
    dry = cli("sync", "--dest", "s3://mirror-bucket", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert aws.list_objects_v2(Bucket="mirror-bucket").get("KeyCount") == 0
    result = cli("sync", "--dest", "s3://mirror-bucket", "--formula", "wget", "--json")
    assert result.code == 0, result.err
    wanted = bottle_files(homebrew, WGET_CLOSURE, TEST_TAGS)
    objects = aws.list_objects_v2(Bucket="mirror-bucket")["Contents"]
    assert {o["Key"] for o in objects
            if o["Key"].startswith("bottles/") and not is_index_key(o["Key"])} == {
        f"bottles/{f}" for f in wanted}
    key = f"bottles/{homebrew.file_name('wget', 'x86_64_linux')}"
    head = aws.head_object(Bucket="mirror-bucket", Key=key)
    assert head["Metadata"]["sha256"] == homebrew.sha256("wget", "x86_64_linux")


def test_a_run_that_seeds_everything_still_writes_manifest_and_record(
    cli, homebrew: FakeHomebrew, tmp_path: Path, serve_bytes: Callable[[str, bytes], str]
) -> None:
    """GIVEN a seed listing every wanted bottle THEN nothing is fetched, `seeded` counts them all,
    and the manifest (empty) and the run record are written, so verify works there."""
    mirror = tmp_path / "mirror"
    seed = seeded(homebrew)
    url = serve_bytes("/all.json", json.dumps(seed).encode())
    result = cli("sync", "--formula", "wget", "--seed-manifest", url, "--json")
    assert result.code == 0, result.err
    assert (result.json["selected"], result.json["seeded"]) == (len(seed), len(seed))
    assert (result.json["present"], result.json["mirrored"]) == (0, 0)
    assert homebrew.count("blob") == 0
    assert json.loads((mirror / "bottles_hash.json").read_text())["bottles"] == {}
    run_id = result.json["run_id"]
    record = mirror / "runs" / run_id[0:4] / run_id[4:6] / run_id[6:8] / f"{run_id}.json"
    assert json.loads(record.read_text())["seeded"] == len(seed)
    verify = cli("verify", "--json")
    assert (verify.code, verify.json["checked"]) == (0, 0)
    human = cli("sync", "--formula", "wget", "--seed-manifest", url)
    assert f"present 0  seeded {len(seed)}  mirrored 0" in human.out
