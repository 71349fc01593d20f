"""Concurrent syncs into one destination: every bottle stored once, no manifest update lost."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bottlesync.commit import RunReport
from bottlesync.errors import ManifestConflict
from bottlesync.manifest import load_manifest
from bottlesync.storage import LocalStorage, S3Storage, Storage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from bottlesync.verify import check_mirror
from tests.conftest import TEST_TAGS, bottle_names, fast_settings
from tests.fakes.homebrew import FakeHomebrew
from tests.integration.conftest import bottle_files, write_config

FORMULA_SETS = {
    2: [("wget",), ("openssl@3", "jq")],
    4: [("wget",), ("openssl@3",), ("jq",), ("libxml++", "libidn2")],
}
CLOSURES = {"wget": ("wget", "openssl@3", "ca-certificates", "libidn2", "libunistring"),
            "openssl@3": ("openssl@3", "ca-certificates"), "jq": ("jq",),
            "libxml++": ("libxml++",), "libidn2": ("libidn2", "libunistring")}


class CommitTogether:
    """A Storage whose first manifest write waits until every run has read the manifest.

    That forces the lost-update race: all runs hold the same etag, one wins, the rest conflict.
    """

    def __init__(self, inner: Storage, barrier: threading.Barrier) -> None:
        self.inner = inner
        self.barrier = barrier
        self.conflicts = 0
        self._waited = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        if not self._waited:
            self._waited = True
            self.barrier.wait(timeout=30)
        try:
            return self.inner.put_if_match(key, data, etag)
        except ManifestConflict:
            self.conflicts += 1
            raise


def files_of(fake: FakeHomebrew, roots: tuple[str, ...]) -> set[str]:
    """Bottle files of `roots` and their closures for the test tags."""
    return bottle_files(fake, tuple(n for r in roots for n in CLOSURES[r]), TEST_TAGS)


def sync_concurrently(fake: FakeHomebrew, dest: str, make_storage: Any,
                      sets: list[tuple[str, ...]]) -> tuple[list[RunReport], int]:
    """Run one run_sync per formula set at once; return the reports and the CAS conflicts."""
    barrier = threading.Barrier(len(sets))
    storages = [CommitTogether(make_storage(), barrier) for _ in sets]

    def one(index: int) -> RunReport:
        settings = fast_settings(fake.source_url, dest, formulae=list(sets[index]))
        with Upstream(settings, sleep=lambda _s: None) as upstream:
            return run_sync(settings, storage=storages[index], upstream=upstream)

    with ThreadPoolExecutor(len(sets)) as pool:
        reports = list(pool.map(one, range(len(sets))))
    return reports, sum(s.conflicts for s in storages)


def check_no_lost_update(storage: Storage, fake: FakeHomebrew, reports: list[RunReport],
                         sets: list[tuple[str, ...]]) -> None:
    """Every run's bottles are in the manifest, each entry names a run that had it."""
    manifest, _ = load_manifest(storage)
    expected = set().union(*(files_of(fake, s) for s in sets))
    assert set(manifest.bottles) == expected
    for report, roots in zip(reports, sets, strict=True):
        assert report.exit_code == 0, report.to_json()
        # fetched by this run, or adopted (landed meanwhile by a concurrent run: present)
        assert report.mirrored + report.present == len(files_of(fake, roots))
    for file, entry in manifest.bottles.items():
        owners = {r.run_id for r, s in zip(reports, sets, strict=True) if file in files_of(fake, s)}
        assert entry["run_id"] in owners
    assert check_mirror(storage, 4).exit_code == 0


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_local_syncs_keep_every_entry(
    homebrew: FakeHomebrew, tmp_path: Path, runs: int
) -> None:
    """GIVEN N runs with different --formula sets WHEN they commit at once THEN none is lost."""
    dest = tmp_path / "mirror"
    sets = FORMULA_SETS[runs]
    reports, conflicts = sync_concurrently(homebrew, str(dest), lambda: LocalStorage(dest), sets)
    assert conflicts >= runs - 1
    check_no_lost_update(LocalStorage(dest), homebrew, reports, sets)
    union = set().union(*(files_of(homebrew, s) for s in sets))
    assert bottle_names(dest / "bottles") == union
    assert not list((dest / ".bottlesync" / "tmp").iterdir())


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_s3_syncs_keep_every_entry(
    homebrew: FakeHomebrew, s3_client: Any, bucket: str, runs: int
) -> None:
    """GIVEN N runs into one bucket WHEN they commit at once THEN If-Match CAS keeps them all."""
    sets = FORMULA_SETS[runs]
    reports, conflicts = sync_concurrently(
        homebrew, f"s3://{bucket}/m", lambda: S3Storage(bucket, "m", client=s3_client), sets)
    assert conflicts >= runs - 1
    check_no_lost_update(S3Storage(bucket, "m", client=s3_client), homebrew, reports, sets)


def test_two_real_processes_into_one_dest(
    bottlesync_process, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN two `bottlesync sync` processes at once THEN the manifest holds both runs' bottles."""
    config = str(write_config(tmp_path / "c.yaml", homebrew.source_url, str(tmp_path / "mirror")))
    sets = FORMULA_SETS[2]

    def one(roots: tuple[str, ...]) -> Any:
        flags = [arg for name in roots for arg in ("--formula", name)]
        return bottlesync_process("sync", "--config", config, "--json", *flags)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, sets))
    assert [r.code for r in results] == [0, 0], [r.err for r in results]
    doc = json.loads((tmp_path / "mirror" / "bottles_hash.json").read_text())
    assert set(doc["bottles"]) == files_of(homebrew, sets[0]) | files_of(homebrew, sets[1])
    verify = bottlesync_process("verify", "--config", config, "--json")
    assert verify.code == 0 and verify.json["checked"] == len(doc["bottles"])
