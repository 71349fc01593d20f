"""Export: which runs, which members, parts for removable media, and a source that lies."""

from __future__ import annotations

import hashlib
import json
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bottlesync.commit import record_key
from bottlesync.errors import DeltaError, StorageError
from bottlesync.export import export_delta
from bottlesync.importer import import_delta
from bottlesync.manifest import commit_entries, load_manifest
from bottlesync.storage import LocalStorage

RUNS = ("20261126T030000Z-0000000a", "20261127T030000Z-0000000b", "20261128T030000Z-0000000c")


def bottle(storage: LocalStorage, name: str, run_id: str, size: int = 3000) -> str:
    """A bottle of `size` pseudo-random bytes, its entry, and the run record that added it."""
    file = f"{name}-1.0.arm64_sequoia.bottle.tar.gz"
    data = hashlib.sha512(name.encode()).digest() * (size // 64 + 1)
    data = data[:size]
    sha = hashlib.sha256(data).hexdigest()
    storage.put_verified(f"bottles/{file}", [data], sha)
    commit_entries(storage, {file: {"sha256": sha, "size": size, "key": f"bottles/{file}",
                                    "synced_at": "x", "run_id": run_id}}, now="x")
    key = record_key(run_id)
    record = json.loads(storage.get(key).data) if storage.get(key) else {"added": []}
    record["added"].append(file)
    record["indexes_published"] = [f"bottles/{name}/manifests/1.0"]
    storage.put_bytes(f"bottles/{name}/manifests/1.0", b'{"index": "%s"}' % name.encode())
    storage.put_bytes(key, json.dumps(record).encode())
    return file


@pytest.fixture
def source(tmp_path: Path) -> LocalStorage:
    """Three runs on three days, one bottle each, and a mirrored API file."""
    storage = LocalStorage(tmp_path / "src")
    for name, run_id in zip(("a", "b", "c"), RUNS, strict=True):
        bottle(storage, name, run_id)
    storage.put_bytes("api/formula.jws.json", b'{"payload": "[]"}')
    return storage


def names(path: Path) -> list[str]:
    """Member names of a tar."""
    with tarfile.open(path) as tar:
        return tar.getnames()


@pytest.mark.parametrize(("since", "run", "expected"), [
    ("2026-11-27", None, ["b", "c"]), (None, RUNS[1], ["b", "c"]), (None, RUNS[2], ["c"]),
    ("2026-01-01", None, ["a", "b", "c"])])
def test_the_range_picks_the_runs_and_the_members_follow(
    source: LocalStorage, tmp_path: Path, since: str | None, run: str | None,
    expected: list[str]
) -> None:
    """The table first, then bottles, their indexes, then the API files."""
    out = tmp_path / "d.tar"
    report = export_delta(source, out, since=since, run=run, now="x")
    assert report is not None and report.bottles == len(expected)
    assert names(out) == ["delta.json",
                          *[f"bottles/{n}-1.0.arm64_sequoia.bottle.tar.gz" for n in expected],
                          *[f"bottles/{n}/manifests/1.0" for n in expected],
                          "api/formula.jws.json"]


def test_parts_are_bounded_and_import_reads_them_back(source: LocalStorage,
                                                      tmp_path: Path) -> None:
    """GIVEN --split-size 4000 bytes THEN every part but the last is exactly that size, and
    importing the first part (or the base name) restores the same bottles."""
    out = tmp_path / "d.tar"
    report = export_delta(source, out, since="2026-01-01", split_size=4000, now="x")
    assert report is not None and len(report.parts) > 3 and not out.exists()
    sizes = [Path(p).stat().st_size for p in report.parts]
    assert all(s == 4000 for s in sizes[:-1]) and 0 < sizes[-1] <= 4000
    assert report.parts[0].endswith("d.tar.000")
    for name, given in (("x", Path(report.parts[0])), ("y", out)):
        dest = LocalStorage(tmp_path / name)
        imported = import_delta(dest, given)
        assert imported.bottles == 3
        assert load_manifest(dest)[0].bottles == load_manifest(source)[0].bottles


def test_a_corrupt_source_bottle_stops_the_export_and_leaves_no_file(
    source: LocalStorage, tmp_path: Path
) -> None:
    """GIVEN a source bottle whose bytes rotted THEN export fails naming it; no part remains."""
    rotten = source.root / "bottles" / "b-1.0.arm64_sequoia.bottle.tar.gz"
    data = bytearray(rotten.read_bytes())
    data[0] ^= 1
    rotten.write_bytes(bytes(data))
    out = tmp_path / "d.tar"
    with pytest.raises(DeltaError, match=r"b-1\.0\.arm64_sequoia"):
        export_delta(source, out, since="2026-01-01", split_size=4000, now="x")
    assert list(tmp_path.glob("d.tar*")) == []


def test_a_bottle_pruned_since_its_run_is_left_out(source: LocalStorage, tmp_path: Path) -> None:
    """GIVEN a run's bottle no longer in the manifest THEN the delta carries only the others."""
    manifest, etag = load_manifest(source)
    del manifest.bottles["a-1.0.arm64_sequoia.bottle.tar.gz"]
    source.put_if_match("bottles_hash.json", manifest.to_bytes(), etag)
    report = export_delta(source, tmp_path / "d.tar", since="2026-01-01", now="x")
    assert report is not None and report.bottles == 2


def test_an_existing_output_file_is_never_overwritten(source: LocalStorage,
                                                      tmp_path: Path) -> None:
    """GIVEN --out naming an existing file THEN export refuses and leaves it as it was."""
    out = tmp_path / "d.tar"
    out.write_bytes(b"keep me")
    with pytest.raises(StorageError, match="cannot create"):
        export_delta(source, out, since="2026-01-01", now="x")
    assert out.read_bytes() == b"keep me"


class OddChunks(LocalStorage):
    """A destination that streams in 777-byte pieces (S3 bodies need not align to anything)."""

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        for chunk in super().iter_chunks(key):
            yield from (chunk[i:i + 777] for i in range(0, len(chunk), 777))


def test_chunks_of_any_size_stream_into_the_tar(source: LocalStorage, tmp_path: Path) -> None:
    """GIVEN a source whose chunks do not align with tar's 16 KiB copy blocks THEN the export
    is whole and imports byte-identical."""
    big = bottle(source, "big", RUNS[2], size=100_000)
    odd = OddChunks(source.root)
    report = export_delta(odd, tmp_path / "d.tar", since="2026-01-01", now="x")
    assert report is not None
    dest = LocalStorage(tmp_path / "x")
    import_delta(dest, tmp_path / "d.tar")
    original = (source.root / "bottles" / big).read_bytes()
    assert (dest.root / "bottles" / big).read_bytes() == original


def test_export_and_import_never_hold_a_bottle_in_memory(source: LocalStorage,
                                                         tmp_path: Path) -> None:
    """GIVEN a 24 MiB bottle THEN export and import each allocate a few MiB at most."""
    bottle(source, "huge", RUNS[2], size=24 << 20)
    peaks = []
    for step in (lambda: export_delta(source, tmp_path / "d.tar", run=RUNS[2], now="x"),
                 lambda: import_delta(LocalStorage(tmp_path / "x"), tmp_path / "d.tar")):
        tracemalloc.start()
        try:
            step()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert max(peaks) < 6 << 20, peaks
