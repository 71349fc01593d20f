"""LocalStorage: nothing is visible under a key until its bytes matched; CAS for the manifest."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bottlesync.errors import DigestMismatch, ManifestConflict, StorageError, UnsafeKey
from bottlesync.local_storage import LocalStorage
from bottlesync.stored import INTERNAL_DIR
from tests.unit.storage_data import KEY, digest, pieces


def temp_files(root: Path) -> list[Path]:
    """Whatever is left in the temp area."""
    tmp = root / INTERNAL_DIR / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def test_local_put_verified_publishes_on_match(tmp_path: Path) -> None:
    """GIVEN chunks matching the sha THEN the file appears with those bytes; no temp file stays."""
    store = LocalStorage(tmp_path)
    data = bytes(range(256)) * 2000
    assert store.put_verified(KEY, pieces(data), digest(data)) == len(data)
    assert (tmp_path / KEY).read_bytes() == data
    assert store.stored_sha256(KEY) == digest(data)
    assert temp_files(tmp_path) == []


def test_local_put_verified_mismatch_leaves_nothing(tmp_path: Path) -> None:
    """GIVEN bytes that do not match THEN DigestMismatch, no file at the key, no temp file."""
    store = LocalStorage(tmp_path)
    with pytest.raises(DigestMismatch) as caught:
        store.put_verified(KEY, pieces(b"evil" * 1000), digest(b"good"))
    assert (caught.value.expected, caught.value.actual) == (digest(b"good"), digest(b"evil" * 1000))
    assert str(tmp_path / KEY) in str(caught.value)
    assert not (tmp_path / KEY).exists()
    assert temp_files(tmp_path) == []


def test_local_mismatch_keeps_the_previous_good_copy(tmp_path: Path) -> None:
    """GIVEN a verified object WHEN a bad copy is put over it THEN the good bytes remain."""
    store = LocalStorage(tmp_path)
    store.put_verified(KEY, [b"good"], digest(b"good"))
    with pytest.raises(DigestMismatch):
        store.put_verified(KEY, [b"bad"], digest(b"good"))
    assert (tmp_path / KEY).read_bytes() == b"good"


def test_local_put_verified_streams_and_hides_until_done(tmp_path: Path) -> None:
    """GIVEN many chunks THEN they stream one by one into a temp file; the key stays absent."""
    store = LocalStorage(tmp_path)
    chunk = b"x" * (64 << 10)
    seen: list[tuple[bool, int]] = []

    def source() -> Iterator[bytes]:
        for _ in range(40):
            yield chunk
            parts = temp_files(tmp_path)
            seen.append(((tmp_path / KEY).exists(), parts[0].stat().st_size if parts else -1))

    data_sha = digest(chunk * 40)
    store.put_verified(KEY, source(), data_sha)
    assert [visible for visible, _ in seen] == [False] * 40
    assert [size for _, size in seen[:3]] == [len(chunk), 2 * len(chunk), 3 * len(chunk)]
    assert (tmp_path / KEY).stat().st_size == 40 * len(chunk)


def test_local_failing_source_midway_leaves_nothing(tmp_path: Path) -> None:
    """GIVEN a download that breaks after some chunks THEN the error propagates, nothing is left."""
    store = LocalStorage(tmp_path)

    def source() -> Iterator[bytes]:
        yield b"a" * 1000
        yield b"b" * 1000
        raise RuntimeError("connection reset")

    with pytest.raises(RuntimeError, match="connection reset"):
        store.put_verified(KEY, source(), digest(b""))
    assert not (tmp_path / KEY).exists()
    assert temp_files(tmp_path) == []


def test_local_put_if_match_is_compare_and_swap(tmp_path: Path) -> None:
    """GIVEN CAS writes THEN None means absent, the returned etag wins, a stale one conflicts."""
    store = LocalStorage(tmp_path)
    first = store.put_if_match("bottles_hash.json", b"v1", None)
    with pytest.raises(ManifestConflict, match="changed since it was read"):
        store.put_if_match("bottles_hash.json", b"v1-again", None)
    stored = store.get("bottles_hash.json")
    assert stored is not None and stored.etag == first
    second = store.put_if_match("bottles_hash.json", b"v2", first)
    with pytest.raises(ManifestConflict):
        store.put_if_match("bottles_hash.json", b"v3", first)
    assert (tmp_path / "bottles_hash.json").read_bytes() == b"v2"
    assert second != first


def test_local_reads_of_absent_keys(tmp_path: Path) -> None:
    """GIVEN nothing stored THEN get/stored_sha256 say None, iter_chunks raises, delete is quiet."""
    store = LocalStorage(tmp_path)
    assert store.get(KEY) is None
    assert store.stored_sha256(KEY) is None
    with pytest.raises(StorageError, match="cannot read"):
        list(store.iter_chunks(KEY))
    store.delete(KEY)
    store.put_bytes(KEY, b"x")
    store.delete(KEY)
    assert not (tmp_path / KEY).exists()


def test_local_stored_sha256_races_a_concurrent_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN another run renames the object into place just after our open failed THEN None."""
    store = LocalStorage(tmp_path)
    target = tmp_path / KEY
    real_open = Path.open

    def open_then_publish(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == target and not target.exists():
            try:
                return real_open(self, *args, **kwargs)
            finally:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(b"landed meanwhile")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_then_publish)
    assert store.stored_sha256(KEY) is None
    assert store.stored_sha256(KEY) == digest(b"landed meanwhile")


def test_local_list_skips_internal_files(tmp_path: Path) -> None:
    """GIVEN objects, temp files and locks THEN list shows only objects, sorted, under a prefix."""
    store = LocalStorage(tmp_path)
    for key in ("runs/r1/results/b.json", "runs/r1/results/a.json", "bottles/x", "top.json"):
        store.put_bytes(key, b"{}")
    store.put_if_match("bottles_hash.json", b"{}", None)  # leaves a lock under .bottlesync
    (tmp_path / INTERNAL_DIR / "tmp").mkdir(parents=True, exist_ok=True)
    (tmp_path / INTERNAL_DIR / "tmp" / "stray.part").write_bytes(b"x")
    assert list(store.list("runs/r1/results/")) == ["runs/r1/results/a.json",
                                                    "runs/r1/results/b.json"]
    assert list(store.list("")) == ["bottles/x", "bottles_hash.json", "runs/r1/results/a.json",
                                    "runs/r1/results/b.json", "top.json"]
    assert list(store.list("nothing/")) == []
    with pytest.raises(UnsafeKey):
        list(store.list("../"))


def test_local_rejects_unsafe_keys_everywhere(tmp_path: Path) -> None:
    """GIVEN `..` keys THEN every operation refuses before touching the disk."""
    store = LocalStorage(tmp_path / "m")
    for call in (lambda: store.get("../x"), lambda: store.put_bytes("../x", b""),
                 lambda: store.put_verified("../x", [b""], digest(b"")),
                 lambda: store.delete("/etc/x")):
        with pytest.raises(UnsafeKey):
            call()
    assert not (tmp_path / "x").exists()


def test_local_etag_is_the_gets_and_reads_only_a_changed_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a file this storage has read THEN etag() answers from its identity without
    reading it again; once the file is replaced (here by another LocalStorage, as a concurrent
    writer would) THEN etag() reads it and names the new content."""
    store, other = LocalStorage(tmp_path), LocalStorage(tmp_path)
    assert store.etag("bottles_hash.json") is None
    store.put_bytes("bottles_hash.json", b"v1")
    first = store.get("bottles_hash.json")
    assert first is not None and first.etag == digest(b"v1")
    reads: list[str] = []
    real_get = LocalStorage.get

    def counted(self: LocalStorage, key: str) -> Any:
        reads.append(key)
        return real_get(self, key)

    monkeypatch.setattr(LocalStorage, "get", counted)
    assert store.etag("bottles_hash.json") == first.etag and reads == []
    other.put_bytes("bottles_hash.json", b"v2")
    assert store.etag("bottles_hash.json") == digest(b"v2") and reads == ["bottles_hash.json"]
    assert store.etag("bottles_hash.json") == digest(b"v2") and len(reads) == 1


def test_local_publish_fsyncs_data_before_the_rename_then_the_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN an existing plain folder (the fast, no-follow path) THEN the order on disk is:
    fsync the temp file, rename it into place, fsync the folder that now holds it."""
    store = LocalStorage(tmp_path)
    store.put_bytes("bottles/first", b"1")  # creates the folder through the checked path
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + ("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(*args: Any, **kwargs: Any) -> None:
        events.append("rename")
        real_replace(*args, **kwargs)

    monkeypatch.setattr("bottlesync.local_storage.os.fsync", fsync)
    monkeypatch.setattr("bottlesync.local_storage.os.replace", replace)
    monkeypatch.setattr("bottlesync.local_storage.check_inside",
                        lambda *_: pytest.fail("a plain folder needs no path resolution"))
    assert store.put_verified("bottles/second", [b"22"], digest(b"22")) == 2
    assert events == ["fsync file", "rename", "fsync dir"]
    assert (tmp_path / "bottles" / "second").read_bytes() == b"22"
    assert temp_files(tmp_path) == []
