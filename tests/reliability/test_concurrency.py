"""GIVEN 2 or 4 syncs into one destination at once WHEN they all finish THEN nothing is lost.

Each run mirrors an overlapping selection (`--formula`), slowed so they really overlap. At the end
every bottle is stored once and verifies, and every run's added entries are in the manifest (the
compare-and-swap commit kept them all), locally and on S3 (moto server, AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from bottlesync.commit import record_key
from bottlesync.manifest import MANIFEST_KEY, commit_entries, load_manifest
from bottlesync.storage import INTERNAL_DIR, LocalStorage, S3Storage, Storage
from bottlesync.verify import check_mirror
from tests.conftest import fast_sync, is_index_key
from tests.fakes.homebrew import FakeFormula, FakeHomebrew
from tests.fakes.moto_server import moto_server

BOTTLESYNC = Path(sys.executable).with_name("bottlesync")
SHARED = FakeFormula("zlib", "1.3.1")
FORMULAE = [SHARED, *(FakeFormula(f"tool{i}", "2.0", revision=i % 2, dependencies=("zlib",),
                                  payload_size=64_000) for i in range(8))]
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeHomebrew]:
    """Eight tools sharing one dependency; slow bodies so that concurrent runs overlap."""
    with FakeHomebrew(FORMULAE) as fake:
        fake.fault("slow", "/ghcr1/blobs/", -1, delay=0.02)
        yield fake


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port (conditional writes atomic, as on S3)."""
    with moto_server() as url:
        yield url


def _selections(runs: int) -> list[list[str]]:
    """Overlapping `--formula` lists: run i wants tools i, i+1, i+2 (mod 8) and so zlib."""
    return [[f"tool{(i + j) % 8}" for j in range(3)] for i in range(0, 8, 8 // runs)][:runs]


def _run_all(config: Path, runs: int, env: dict[str, str]) -> list[dict[str, Any]]:
    """Start every sync at once; wait for all; their --json reports."""
    children = [
        subprocess.Popen([str(BOTTLESYNC), "sync", "--config", str(config), "--json",
                          *(arg for name in names for arg in ("--formula", name))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **env})
        for names in _selections(runs)]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def _expected(upstream: FakeHomebrew, runs: int) -> dict[str, str]:
    """file -> sha256 of every bottle some run selected."""
    names = {SHARED.name, *(n for names in _selections(runs) for n in names)}
    return {upstream.file_name(n, t): upstream.sha256(n, t)
            for n in names for t in upstream.formula(n).tags}


def _assert_nothing_lost(storage: Storage, reports: list[dict[str, Any]],
                         expected: dict[str, str]) -> None:
    """Stored once, verified, and every run's added entries in the manifest."""
    bottles = sorted(k for k in storage.list("bottles/") if not is_index_key(k))
    assert bottles == sorted(f"bottles/{f}" for f in expected)  # once each, nothing else
    manifest, _ = load_manifest(storage)
    assert {f: e["sha256"] for f, e in manifest.bottles.items()} == expected
    for report in reports:
        stored = storage.get(record_key(report["run_id"]))
        assert stored is not None
        record = json.loads(stored.data)
        assert set(record["added"]) <= set(manifest.bottles)
        assert record["failed"] == 0
    assert sum(r["mirrored"] for r in reports) >= len(expected)
    verdict = check_mirror(storage, 4)
    assert verdict.checked == len(expected) and verdict.exit_code == 0


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_local_syncs_lose_nothing(upstream: FakeHomebrew, tmp_path: Path,
                                             runs: int) -> None:
    """GIVEN `runs` syncs into one directory at once THEN all entries survive, all verify."""
    dest = tmp_path / "mirror"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"sync": fast_sync(upstream.source_url, str(dest))}))
    reports = _run_all(config, runs, {})
    _assert_nothing_lost(LocalStorage(dest), reports, _expected(upstream, runs))
    assert list((dest / INTERNAL_DIR / "tmp").glob("*")) == []
    assert (dest / MANIFEST_KEY).is_file()


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_s3_syncs_lose_nothing(upstream: FakeHomebrew, moto_endpoint: str,
                                          tmp_path: Path, runs: int) -> None:
    """GIVEN `runs` syncs into one bucket prefix at once THEN all entries survive, all verify."""
    client = boto3.client("s3", endpoint_url=moto_endpoint, **_creds())
    bucket = f"mirror-{runs}"
    client.create_bucket(Bucket=bucket)
    config = tmp_path / "config.yaml"
    sync = fast_sync(upstream.source_url, f"s3://{bucket}/base")
    config.write_text(yaml.safe_dump({"sync": sync}))
    reports = _run_all(config, runs, {**AWS, "AWS_ENDPOINT_URL": moto_endpoint})
    _assert_nothing_lost(S3Storage(bucket, "base", client=client), reports,
                         _expected(upstream, runs))
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
            "region_name": AWS["AWS_DEFAULT_REGION"]}


@pytest.mark.parametrize("where", ["local", "s3"])
def test_colliding_commits_keep_every_entry(moto_endpoint: str, tmp_path: Path,
                                            where: str) -> None:
    """GIVEN 8 writers committing to one manifest at the same instant THEN no entry is lost."""
    storage: Storage
    if where == "s3":
        client = boto3.client("s3", endpoint_url=moto_endpoint, **_creds())
        client.create_bucket(Bucket="collide")
        storage = S3Storage("collide", "", client=client)
    else:
        storage = LocalStorage(tmp_path)
    start = threading.Barrier(8)

    def writer(i: int) -> None:
        entries = {f"w{i}-{n}.all.bottle.tar.gz": {"sha256": f"{i:064x}", "size": n,
                                                  "key": f"bottles/w{i}-{n}.all.bottle.tar.gz",
                                                  "run_id": str(i)}
                   for n in range(5)}
        start.wait()
        for n, (file, entry) in enumerate(entries.items()):
            commit_entries(storage, {file: entry}, now=f"2026-11-28T03:00:0{n}Z",
                           sleep=lambda _s: None, attempts=200)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    manifest, _ = load_manifest(storage)
    assert len(manifest.bottles) == 40
