"""Prune: old unnamed bottles go; the catalogue, the API and live OCI indexes keep the rest."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bottlesync.catalog import Catalog, parse_catalog
from bottlesync.errors import PruneRefused
from bottlesync.manifest import commit_entries, load_manifest
from bottlesync.prune import apply_prune, digests_in, plan_prune
from bottlesync.storage import LocalStorage
from tests.conftest import SMALL_CATALOGUE
from tests.fakes.homebrew import FakeFormula

ROOT = "https://ghcr.io/v2/homebrew/core"
NOW = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)
OLD, YOUNG = NOW - timedelta(days=100), NOW - timedelta(days=2)


def catalogue(formulae: tuple[FakeFormula, ...] = SMALL_CATALOGUE) -> Catalog:
    """A catalogue of `formulae` as formula.json would list them."""
    entries = [{"name": f.name, "versions": {"stable": f.version}, "revision": f.revision,
                "dependencies": list(f.dependencies), "deprecated": False, "disabled": False,
                "bottle": {"stable": {"rebuild": f.rebuild, "root_url": ROOT,
                                      "files": {t: _file(f, t) for t in f.tags}}}}
               for f in formulae]
    return parse_catalog(json.dumps(entries).encode(), "test catalogue")


def _file(formula: FakeFormula, tag: str) -> dict[str, str]:
    """A catalogue `files.<tag>` object."""
    sha = sha_of(formula.file_name(tag))
    return {"cellar": ":any", "sha256": sha,
            "url": f"{ROOT}/{formula.image}/blobs/sha256:{sha}"}


def sha_of(file: str) -> str:
    """The bytes of a test bottle are its file name: its sha256."""
    return hashlib.sha256(file.encode()).hexdigest()


def add(storage: LocalStorage, file: str, synced: datetime) -> dict[str, Any]:
    """Put a bottle (bytes = its name) and its manifest entry."""
    key = f"bottles/{file}"
    storage.put_verified(key, [file.encode()], sha_of(file))
    entry = {"sha256": sha_of(file), "size": len(file), "key": key,
             "synced_at": f"{synced:%Y-%m-%dT%H:%M:%SZ}", "run_id": "r"}
    commit_entries(storage, {file: entry}, now="2026-11-01T00:00:00Z")
    return entry


def oci_index(*files: str) -> bytes:
    """An OCI image index naming these bottles by digest (as ghcr.io's does)."""
    return json.dumps({"schemaVersion": 2, "manifests": [
        {"digest": "sha256:" + "e" * 64, "annotations": {
            "org.opencontainers.image.ref.name": f, "sh.brew.bottle.digest": sha_of(f)}}
        for f in files]}).encode()


def jws(payload: Any) -> bytes:
    """Homebrew's signed API shape: the JSON text as the payload string."""
    return json.dumps({"payload": json.dumps(payload), "signatures": []}).encode()


OLD_WGET = "wget-1.24.0.arm64_sequoia.bottle.tar.gz"
OLDER_WGET = "wget-1.23.0.arm64_sequoia.bottle.tar.gz"
YOUNG_WGET = "wget-1.24.5.x86_64_linux.bottle.tar.gz"
API_NAMED = "gone-0.9.x86_64_linux.bottle.tar.gz"
PACKAGES_NAMED = "gone-0.8.arm64_sequoia.bottle.tar.gz"
INDEX_NAMED = "jq-1.7.0.arm64_sequoia.bottle.tar.gz"


@pytest.fixture
def mirror(tmp_path: Path) -> LocalStorage:
    """Current bottles (old), old versions of every kind, the API files and two OCI indexes."""
    storage = LocalStorage(tmp_path)
    for formula in SMALL_CATALOGUE:
        for tag in formula.tags:
            add(storage, formula.file_name(tag), OLD)
    add(storage, OLD_WGET, OLD)
    add(storage, YOUNG_WGET, YOUNG)
    for file in (API_NAMED, PACKAGES_NAMED, INDEX_NAMED):
        add(storage, file, OLD)
    storage.put_bytes("api/formula.jws.json", jws([{"name": "gone", "bottle": {"stable": {
        "files": {"x86_64_linux": {"sha256": sha_of(API_NAMED)}}}}}]))
    storage.put_bytes("api/internal/packages.arm64_sequoia.jws.json", jws(
        {"metadata": {}, "formulae": {"gone": ["0.8", 0, 0, sha_of(PACKAGES_NAMED)]}}))
    storage.put_bytes("bottles/jq/manifests/1.7.1_2", oci_index(INDEX_NAMED))  # jq's live version
    storage.put_bytes("bottles/wget/manifests/1.24.0", oci_index(OLD_WGET))  # stale
    return storage


def test_dry_run_lists_exactly_the_old_unnamed_bottle_and_its_stale_index(
    mirror: LocalStorage
) -> None:
    """GIVEN every kind of old bottle THEN only the old, unnamed one and its index are listed,
    each kept one with its reason, and nothing is deleted."""
    plan = plan_prune(mirror, catalogue(), keep_versions=0, older_than_days=30, now=NOW)
    assert plan.keys == ["bottles/wget/manifests/1.24.0", f"bottles/{OLD_WGET}"]
    assert plan.kept == {YOUNG_WGET: "synced less than 30 days ago",
                         API_NAMED: "named by the published API",
                         PACKAGES_NAMED: "named by the published API",
                         INDEX_NAMED: "named by the OCI index bottles/jq/manifests/1.7.1_2"}
    assert mirror.get(f"bottles/{OLD_WGET}") is not None
    assert OLD_WGET in load_manifest(mirror)[0].bottles


def test_keep_versions_keeps_the_newest_old_versions_per_formula_and_tag(
    mirror: LocalStorage
) -> None:
    """GIVEN two old wget versions for one tag WHEN --keep-versions 1 THEN the older goes."""
    add(mirror, OLDER_WGET, OLD - timedelta(days=50))
    plan = plan_prune(mirror, catalogue(), keep_versions=1, older_than_days=30, now=NOW)
    assert sorted(plan.bottles) == [OLDER_WGET]
    assert plan.kept[OLD_WGET] == "one of the 1 newest old versions"
    assert plan.indexes == []  # the stale index still names a kept bottle


def test_apply_deletes_them_and_keeps_what_a_concurrent_commit_added(
    mirror: LocalStorage, tmp_path: Path
) -> None:
    """GIVEN a sync that commits a new entry between prune's read and its write THEN after
    --apply the manifest has the new entry, lacks the pruned one, and the files are gone."""
    plan = plan_prune(mirror, catalogue(), keep_versions=0, older_than_days=30, now=NOW)
    other = LocalStorage(tmp_path)
    new = {"sha256": "b" * 64, "size": 3, "key": "bottles/new-1.0.arm64_sequoia.bottle.tar.gz",
           "synced_at": "2026-11-28T02:59:00Z", "run_id": "concurrent"}
    original = mirror.put_if_match
    raced: list[bool] = []

    def racing(key: str, data: bytes, etag: str | None) -> str:
        if not raced:
            raced.append(True)
            commit_entries(other, {"new-1.0.arm64_sequoia.bottle.tar.gz": new}, now="x")
        return original(key, data, etag)

    mirror.put_if_match = racing  # type: ignore[method-assign]
    deleted = apply_prune(mirror, plan, now=NOW, sleep=lambda _s: None)
    assert raced and deleted == plan.keys
    bottles = load_manifest(mirror)[0].bottles
    assert bottles["new-1.0.arm64_sequoia.bottle.tar.gz"] == new
    assert OLD_WGET not in bottles and API_NAMED in bottles
    assert len(bottles) == 14 + 4 + 1  # current, kept old ones, the concurrent one
    assert mirror.get(f"bottles/{OLD_WGET}") is None
    assert mirror.get("bottles/wget/manifests/1.24.0") is None
    assert mirror.get(f"bottles/{API_NAMED}") is not None


def test_an_entry_changed_since_planning_is_not_removed(mirror: LocalStorage) -> None:
    """GIVEN the old bottle re-committed with another sha after planning THEN apply keeps it."""
    plan = plan_prune(mirror, catalogue(), keep_versions=0, older_than_days=30, now=NOW)
    changed = {**plan.bottles[OLD_WGET], "sha256": "c" * 64, "run_id": "later"}
    commit_entries(mirror, {OLD_WGET: changed}, now="x")
    apply_prune(mirror, plan, now=NOW)
    assert load_manifest(mirror)[0].bottles[OLD_WGET] == changed


def test_an_empty_catalogue_refuses(mirror: LocalStorage) -> None:
    """GIVEN a catalogue with no formulae THEN prune refuses (it would delete everything)."""
    with pytest.raises(PruneRefused, match="no formulae"):
        plan_prune(mirror, Catalog("empty.json", {}), keep_versions=0, older_than_days=0,
                   now=NOW)


def test_an_unreadable_api_file_refuses(mirror: LocalStorage) -> None:
    """GIVEN a published API file that is not JSON THEN prune refuses, naming the file."""
    mirror.put_bytes("api/formula.jws.json", b"{not json")
    with pytest.raises(PruneRefused, match=r"formula\.jws\.json"):
        plan_prune(mirror, catalogue(), keep_versions=0, older_than_days=30, now=NOW)


def test_digests_in_reads_any_shape() -> None:
    """Bare and `sha256:` prefixed digests, at any depth, in a JWS payload or plain JSON."""
    a, b = "a" * 64, "b" * 64
    assert digests_in(jws({"x": [{"y": a}], "z": f"sha256:{b}"}), "t") == {a, b}
    assert digests_in(json.dumps([a, "short", 5]).encode(), "t") == {a}


def test_an_entry_without_a_sync_time_is_never_old(mirror: LocalStorage) -> None:
    """GIVEN an old unnamed bottle whose synced_at is missing THEN it is kept as young."""
    entry = {**load_manifest(mirror)[0].bottles[OLD_WGET]}
    del entry["synced_at"]
    commit_entries(mirror, {OLD_WGET: entry}, now="x")
    plan = plan_prune(mirror, catalogue(), keep_versions=0, older_than_days=30, now=NOW)
    assert plan.bottles == {} and plan.kept[OLD_WGET] == "synced less than 30 days ago"


def test_versions_are_grouped_by_the_longest_catalogue_name(tmp_path: Path) -> None:
    """GIVEN formulae `foo` and `foo-bar` WHEN --keep-versions 1 THEN foo-bar's two old versions
    are one group (the older goes) and foo's lone old version is its own group (kept)."""
    storage = LocalStorage(tmp_path)
    files = {"foo-bar-1.0.arm64_sequoia.bottle.tar.gz": OLD - timedelta(days=9),
             "foo-bar-1.5.arm64_sequoia.bottle.tar.gz": OLD,
             "foo-1.0.arm64_sequoia.bottle.tar.gz": OLD - timedelta(days=20)}
    for file, synced in files.items():
        add(storage, file, synced)
    formulae = (FakeFormula("foo", "2.0"), FakeFormula("foo-bar", "2.0"))
    plan = plan_prune(storage, catalogue(formulae), keep_versions=1, older_than_days=30, now=NOW)
    assert sorted(plan.bottles) == ["foo-bar-1.0.arm64_sequoia.bottle.tar.gz"]
