"""bottles_hash.json: strict parsing, CAS commits that keep concurrent writers, seed manifests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bottlesync.errors import ManifestConflict, ManifestError
from bottlesync.manifest import (
    MANIFEST_KEY,
    Manifest,
    commit_entries,
    load_manifest,
    load_seed,
    load_sizes,
    parse_manifest,
)
from bottlesync.storage import LocalStorage, S3Storage, Storage
from bottlesync.upstream import Upstream
from tests.unit.conftest import BUCKET, StubServer, sha

FILE = "wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz"
A, B = "a-1.0.sonoma.bottle.tar.gz", "b-1.0.sonoma.bottle.tar.gz"
OLD, RIVAL, OURS = ("old-1.0.sonoma.bottle.tar.gz", "rival-1.0.sonoma.bottle.tar.gz",
                    "ours-1.0.sonoma.bottle.tar.gz")


def entry(file: str = FILE, digest: str | None = None, run_id: str = "r1") -> dict[str, Any]:
    """A manifest entry with the contract fields."""
    return {"sha256": digest or sha(file), "size": 10, "key": f"bottles/{file}",
            "synced_at": "2026-11-28T03:00:09Z", "run_id": run_id}


def document(**bottles: Any) -> bytes:
    """A manifest document with `bottles`."""
    return json.dumps({"schema": 1, "updated_at": None, "bottles": bottles}).encode()


def test_round_trip_and_has() -> None:
    """GIVEN a manifest WHEN serialised and parsed THEN equal; has() needs the same sha256."""
    manifest = Manifest({FILE: entry()}, "2026-11-28T03:00:12Z")
    data = manifest.to_bytes()
    assert json.loads(data)["schema"] == 1
    back = parse_manifest(data, "m.json")
    assert back == manifest
    assert back.has(FILE, sha(FILE))
    assert not back.has(FILE, sha("other"))
    assert not back.has("jq-1.7.1.sonoma.bottle.tar.gz", sha(FILE))


def test_serialisation_is_sorted() -> None:
    """GIVEN entries in any order THEN the file lists them sorted (stable diffs)."""
    manifest = Manifest({B: entry(B), A: entry(A)})
    assert list(json.loads(manifest.to_bytes())["bottles"]) == [A, B]


@pytest.mark.parametrize(("data", "needle"), [
    (b"{not json", "m.json: not JSON"),
    (json.dumps({"schema": 2, "bottles": {}}).encode(), "m.json: schema"),
    (json.dumps({"bottles": {}}).encode(), "m.json: (top)"),
    (json.dumps([]).encode(), "m.json: (top)"),
    (document(**{FILE: {**entry(), "sha256": "abc"}}), f"m.json: bottles.{FILE}.sha256"),
    (document(**{FILE: {**entry(), "key": "../../etc/passwd"}}), f"m.json: bottles.{FILE}.key"),
    (document(**{FILE: {**entry(), "key": None}}), f"m.json: bottles.{FILE}.key"),
    (document(**{FILE: "sha"}), f"m.json: bottles.{FILE}: not an object"),
])
def test_parse_errors_name_the_file_and_entry(data: bytes, needle: str) -> None:
    """GIVEN a broken manifest THEN ManifestError names the file and the entry."""
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data, "m.json")
    assert needle in str(caught.value)


def test_load_manifest_absent_and_corrupt(tmp_path: Path) -> None:
    """GIVEN no manifest THEN empty and no etag; GIVEN a corrupt one THEN ManifestError (kept)."""
    store = LocalStorage(tmp_path)
    assert load_manifest(store) == (Manifest(), None)
    (tmp_path / MANIFEST_KEY).write_text("garbage")
    with pytest.raises(ManifestError, match=str(tmp_path / MANIFEST_KEY)):
        load_manifest(store)
    with pytest.raises(ManifestError):
        commit_entries(store, {FILE: entry()}, now="t")
    assert (tmp_path / MANIFEST_KEY).read_text() == "garbage"


def test_commit_entries_merges(tmp_path: Path) -> None:
    """GIVEN an existing manifest WHEN new entries are committed THEN old and new are both there."""
    store = LocalStorage(tmp_path)
    commit_entries(store, {A: entry(A)}, now="2026-11-27T00:00:00Z")
    commit_entries(store, {B: entry(B), A: entry(A, run_id="r2")},
                   now="2026-11-28T00:00:00Z")
    manifest, etag = load_manifest(store)
    assert sorted(manifest.bottles) == [A, B]
    assert manifest.bottles[A]["run_id"] == "r2"
    assert manifest.updated_at == "2026-11-28T00:00:00Z"
    assert etag is not None


class RacingStorage:
    """A storage wrapper where another run commits between our read and our first write."""

    def __init__(self, inner: Storage, rival: dict[str, Any], races: int = 1) -> None:
        self.inner = inner
        self.rival = rival
        self.races = races
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        """Let the rival write first (with the etag we read), then try ours."""
        self.writes += 1
        if self.races > 0:
            self.races -= 1
            commit_entries(self.inner, self.rival, now=f"rival-{self.writes}")
        return self.inner.put_if_match(key, data, etag)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_concurrent_commit_keeps_both_writers(tmp_path: Path, request: pytest.FixtureRequest,
                                              backend: str) -> None:
    """GIVEN a rival commit between our read and write THEN we retry and both entries survive."""
    inner: Storage = (LocalStorage(tmp_path) if backend == "local"
                      else S3Storage(BUCKET, "m", client=request.getfixturevalue("s3")))
    commit_entries(inner, {OLD: entry(OLD)}, now="t0")
    racing = RacingStorage(inner, {RIVAL: entry(RIVAL, run_id="r2")})
    sleeps: list[float] = []
    commit_entries(racing, {OURS: entry(OURS)}, now="t1", sleep=sleeps.append)  # type: ignore[arg-type]
    manifest, _ = load_manifest(inner)
    assert sorted(manifest.bottles) == [OLD, OURS, RIVAL]
    assert racing.writes == 2
    assert len(sleeps) == 1


def test_commit_gives_up_after_attempts(tmp_path: Path) -> None:
    """GIVEN a rival that always wins THEN ManifestConflict after `attempts` tries."""
    racing = RacingStorage(LocalStorage(tmp_path), {RIVAL: entry(RIVAL)}, races=99)
    with pytest.raises(ManifestConflict):
        commit_entries(racing, {OURS: entry(OURS)}, now="t", sleep=lambda _: None,  # type: ignore[arg-type]
                       attempts=3)
    assert racing.writes == 3
    assert OURS not in load_manifest(LocalStorage(tmp_path))[0].bottles


# -- seeds -------------------------------------------------------------------------------------
def test_seed_from_s3_in_both_formats(s3: Any, upstream: Upstream) -> None:
    """GIVEN our format and a flat {file: sha} map on S3 THEN both give file -> sha256."""
    s3.put_object(Bucket=BUCKET, Key="ours/bottles_hash.json", Body=document(**{FILE: entry()}))
    s3.put_object(Bucket=BUCKET, Key="flat.json", Body=json.dumps({FILE: sha("x")}).encode())
    assert load_seed(f"s3://{BUCKET}/ours/bottles_hash.json", upstream, s3) == {FILE: sha(FILE)}
    assert load_seed(f"s3://{BUCKET}/flat.json", upstream, s3) == {FILE: sha("x")}


def test_seed_from_https_like_loopback(stub: StubServer, upstream: Upstream) -> None:
    """GIVEN a seed served over HTTP on loopback THEN flat and nested-sha forms are read."""
    url = stub.route("/hashes.json", {FILE: sha("a"), "jq.tar.gz": {"sha256": sha("b")}})
    assert load_seed(url, upstream) == {FILE: sha("a"), "jq.tar.gz": sha("b")}


def test_missing_s3_seed(s3: Any, upstream: Upstream) -> None:
    """GIVEN a seed URI with no object THEN ManifestError names the URI."""
    uri = f"s3://{BUCKET}/nope.json"
    with pytest.raises(ManifestError, match=f"seed manifest {uri} does not exist"):
        load_seed(uri, upstream, s3)


@pytest.mark.parametrize(("body", "needle"), [
    (b"<html>", "not JSON"),
    (b"[1, 2]", "expected an object"),
    (json.dumps({FILE: "not-a-sha"}).encode(), f"{FILE}: 'not-a-sha' is not 64 hex digits"),
    (json.dumps({FILE: {"size": 1}}).encode(), f"{FILE}: None is not 64 hex digits"),
    (json.dumps({"schema": 1, "bottles": {FILE: {"sha256": "x", "key": "k"}}}).encode(),
     "sha256"),
])
def test_bad_seed_contents(stub: StubServer, upstream: Upstream, body: bytes,
                           needle: str) -> None:
    """GIVEN a seed that is not a manifest THEN ManifestError names the URI and the problem."""
    url = stub.route("/seed.json", body)
    with pytest.raises(ManifestError) as caught:
        load_seed(url, upstream)
    assert f"seed manifest {url}" in str(caught.value)
    assert needle in str(caught.value)


def test_unreachable_or_unsupported_seeds(stub: StubServer, upstream: Upstream) -> None:
    """GIVEN a 404 seed or an unsupported scheme THEN ManifestError names the URI."""
    url = f"{stub.base}/missing.json"
    with pytest.raises(ManifestError, match=f"seed manifest {url}: .*HTTP 404"):
        load_seed(url, upstream)
    ftp = re.escape("'ftp://x/seed.json' must be an s3:// or https://")
    with pytest.raises(ManifestError, match=ftp):
        load_seed("ftp://x/seed.json", upstream)
    evil = r"seed manifest https://evil\.example/s\.json: .*not allowed"
    with pytest.raises(ManifestError, match=evil):
        load_seed("https://evil.example/s.json", upstream)


@pytest.mark.parametrize("key", [
    "bottles_hash.json", "runs/2026/11/28/r1.json", "runs/r1/plan.json",
    ".bottlesync/tmp/x.part", "index.html", "api/formula.jws.json",
    "bottles/jq-1.7.1.sonoma.bottle.tar.gz",  # another bottle's key
    f"v2/homebrew/core/wget/blobs/sha256:{'0' * 64}",  # another digest
    f"v2/homebrew/core/curl/blobs/sha256:{sha(FILE)}",  # another image
    f"2026-13-99x/{FILE}",
])
def test_an_entry_key_must_be_a_layout_key_of_its_own_file(key: str) -> None:
    """GIVEN an entry whose key is not a bottle key of that very file (the manifest itself, a run
    record, a temp file, another bottle) THEN ManifestError names the entry's key."""
    with pytest.raises(ManifestError, match=rf"bottles\.{FILE}\.key: .* is not a bottle key"):
        parse_manifest(document(**{FILE: {**entry(), "key": key}}), "m.json")


@pytest.mark.parametrize("key", [
    f"bottles/{FILE}", f"2026-11-28/{FILE}", f"v2/homebrew/core/wget/blobs/sha256:{sha(FILE)}",
])
def test_every_layout_key_of_the_file_is_accepted(key: str) -> None:
    """GIVEN the file's key in each layout THEN the entry parses."""
    assert parse_manifest(document(**{FILE: {**entry(), "key": key}}), "m").has(FILE, sha(FILE))


def test_names_with_dashes_and_at_signs_are_understood() -> None:
    """GIVEN a name holding '-' or '@' THEN its artifact-domain key is recognised."""
    file = "python-tk@3.13-3.13.1.arm64_sonoma.bottle.tar.gz"
    key = f"v2/homebrew/core/python-tk/3.13/blobs/sha256:{sha(file)}"
    assert parse_manifest(document(**{file: {**entry(file), "key": key}}), "m").has(
        file, sha(file))


def test_the_status_page_reads_sizes_without_the_per_entry_checks(tmp_path: Path) -> None:
    """GIVEN a manifest that fits the typed record WHEN its sizes are read THEN file -> size as
    listed; GIVEN one with a bad digest THEN parse_manifest's error names the entry."""
    storage = LocalStorage(tmp_path)
    sha = "a" * 64
    entries = {"f-1.0.sonoma.bottle.tar.gz": {"sha256": sha, "size": 7,
                                              "key": "bottles/f-1.0.sonoma.bottle.tar.gz"},
               "g-1.0.sonoma.bottle.tar.gz": {"sha256": sha,
                                              "key": "bottles/g-1.0.sonoma.bottle.tar.gz"}}
    storage.put_bytes(MANIFEST_KEY, Manifest(entries).to_bytes())
    assert load_sizes(storage) == {"f-1.0.sonoma.bottle.tar.gz": 7,
                                   "g-1.0.sonoma.bottle.tar.gz": None}
    entries["g-1.0.sonoma.bottle.tar.gz"]["sha256"] = "zz"
    storage.put_bytes(MANIFEST_KEY, Manifest(entries).to_bytes())
    with pytest.raises(ManifestError, match=r"bottles\.g-1\.0\.sonoma\.bottle\.tar\.gz\.sha256"):
        load_sizes(storage)
