"""Storage: nothing is visible under a key until its bytes matched; CAS for the manifest."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bottlesync import storage as storage_module
from bottlesync.errors import (
    ConfigError,
    DigestMismatch,
    ManifestConflict,
    StorageError,
    UnsafeKey,
)
from bottlesync.storage import (
    INTERNAL_DIR,
    LocalStorage,
    S3Storage,
    check_key,
    open_storage,
)
from tests.unit.conftest import BUCKET

KEY = "bottles/wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz"
MIB = 1 << 20


def digest(data: bytes) -> str:
    """sha256 hex."""
    return hashlib.sha256(data).hexdigest()


def pieces(data: bytes, size: int = 64 << 10) -> Iterator[bytes]:
    """`data` in chunks of `size`."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def temp_files(root: Path) -> list[Path]:
    """Whatever is left in the temp area."""
    tmp = root / INTERNAL_DIR / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


# -- keys and open_storage ---------------------------------------------------------------------
@pytest.mark.parametrize("key", ["", "/etc/passwd", "a/../b", "..", "a\\b", "a\x00b", "a//b",
                                 "a/", "./a", "bottles/."])
def test_check_key_rejects_escapes(key: str) -> None:
    """GIVEN a key that could escape the prefix THEN UnsafeKey quotes it."""
    with pytest.raises(UnsafeKey, match="is not a safe relative key"):
        check_key(key)


def test_check_key_returns_safe_keys_unchanged() -> None:
    """GIVEN ordinary keys (with `@` and `:`) THEN they pass unchanged."""
    for key in (KEY, "v2/homebrew/core/openssl/3/blobs/sha256:ab", "bottles/openssl@3-3.tar.gz"):
        assert check_key(key) == key


def test_open_storage_parses_destinations(tmp_path: Path) -> None:
    """GIVEN ./dir, file:///abs and s3://bucket/prefix THEN the matching backend and base."""
    local = open_storage(str(tmp_path / "m"))
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "m"
    absolute = open_storage(f"file://{tmp_path}/m")
    assert isinstance(absolute, LocalStorage) and absolute.root == tmp_path / "m"
    s3 = open_storage("s3://my-bucket/mirror/brew/", s3_client=object())
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.base) == ("my-bucket", "mirror/brew/", "s3://my-bucket/mirror/brew")
    bare = open_storage("s3://my-bucket", s3_client=object())
    assert bare.base == "s3://my-bucket" and bare.describe("k") == "s3://my-bucket/k"


@pytest.mark.parametrize(("dest", "needle"), [
    ("s3://Bad_Bucket/x", "not a valid S3 bucket name"),
    ("s3://a..b/x", "not a valid S3 bucket name"),
    ("s3://bucket/../up", "not a safe key prefix"),
    ("file://relative/path", "file:///absolute/path"),
    ("https://example.org/mirror", "must be a directory"),
])
def test_open_storage_rejects(dest: str, needle: str) -> None:
    """GIVEN an unusable destination THEN ConfigError names it (nothing is created)."""
    with pytest.raises(ConfigError, match=needle) as caught:
        open_storage(dest, s3_client=object())
    assert str(caught.value).startswith(dest)


# -- LocalStorage ------------------------------------------------------------------------------
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


# -- S3Storage (moto) --------------------------------------------------------------------------
def test_s3_small_put_has_checksum_and_metadata(s3: Any) -> None:
    """GIVEN a small bottle THEN one PUT with ChecksumSHA256 and `sha256` metadata."""
    sent: list[Any] = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(request))
    store = S3Storage(BUCKET, "mirror", client=s3)
    data = b"bottle" * 1000
    assert store.put_verified(KEY, pieces(data, 1000), digest(data)) == len(data)
    [put] = [r for r in sent if r.method == "PUT"]
    assert put.headers["x-amz-checksum-sha256"].decode() == base64.b64encode(
        hashlib.sha256(data).digest()).decode()
    head = s3.head_object(Bucket=BUCKET, Key=f"mirror/{KEY}")
    assert head["Metadata"]["sha256"] == digest(data)
    assert store.stored_sha256(KEY) == digest(data)
    assert s3.get_object(Bucket=BUCKET, Key=f"mirror/{KEY}")["Body"].read() == data


def test_s3_small_mismatch_leaves_nothing(s3: Any) -> None:
    """GIVEN a small body that does not match THEN DigestMismatch and no object."""
    store = S3Storage(BUCKET, "", client=s3)
    with pytest.raises(DigestMismatch, match=f"s3://{BUCKET}/{KEY}"):
        store.put_verified(KEY, [b"evil"], digest(b"good"))
    assert store.stored_sha256(KEY) is None
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> int:
    """Parts of 5 MiB: the smallest S3 (and moto) accepts for all but the last part."""
    monkeypatch.setattr(storage_module, "PART_SIZE", 5 * MIB)
    return 5 * MIB


def test_s3_large_put_is_a_verified_multipart(s3: Any, small_parts: int) -> None:
    """GIVEN 11 MiB THEN a 3-part multipart upload, completed, with `sha256` metadata."""
    store = S3Storage(BUCKET, "", client=s3)
    data = hashlib.sha256(b"seed").digest() * (11 * MIB // 32)
    size = store.put_verified(KEY, pieces(data, MIB), digest(data), size_hint=len(data))
    assert size == len(data)
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == len(data)
    assert head["Metadata"]["sha256"] == digest(data)
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == data
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET)


def test_s3_large_mismatch_aborts_the_upload(s3: Any, small_parts: int) -> None:
    """GIVEN 11 MiB that do not match THEN the multipart is aborted and no object exists."""
    store = S3Storage(BUCKET, "", client=s3)
    data = b"\x01" * (11 * MIB)
    with pytest.raises(DigestMismatch):
        store.put_verified(KEY, pieces(data, MIB), digest(b"other"))
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_s3_source_failing_after_a_part_aborts(s3: Any, small_parts: int) -> None:
    """GIVEN a stream that breaks after the first part was sent THEN the upload is aborted."""
    store = S3Storage(BUCKET, "", client=s3)

    def source() -> Iterator[bytes]:
        yield b"\x02" * (6 * MIB)
        raise RuntimeError("connection reset")

    with pytest.raises(RuntimeError):
        store.put_verified(KEY, source(), digest(b"x"))
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_s3_part_size_grows_with_huge_hints(s3: Any, small_parts: int) -> None:
    """GIVEN a size hint beyond MAX_PARTS parts THEN parts grow: 6 MiB stays one buffered PUT."""
    store = S3Storage(BUCKET, "", client=s3)
    data = b"\x04" * (6 * MIB)
    hint = storage_module.MAX_PARTS * 10 * MIB
    store.put_verified(KEY, pieces(data, MIB), digest(data), size_hint=hint)
    assert "-" not in s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    store.put_verified(KEY, pieces(data, MIB), digest(data), size_hint=len(data))
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"].strip('"').endswith("-2")


def test_s3_put_if_match(s3: Any) -> None:
    """GIVEN CAS on S3 THEN IfNoneMatch for new, IfMatch for updates, stale etag conflicts."""
    store = S3Storage(BUCKET, "p", client=s3)
    first = store.put_if_match("bottles_hash.json", b"v1", None)
    with pytest.raises(ManifestConflict):
        store.put_if_match("bottles_hash.json", b"again", None)
    stored = store.get("bottles_hash.json")
    assert stored is not None and (stored.data, stored.etag) == (b"v1", first)
    store.put_if_match("bottles_hash.json", b"v2", first)
    with pytest.raises(ManifestConflict, match="changed since it was read"):
        store.put_if_match("bottles_hash.json", b"v3", first)
    assert store.get("bottles_hash.json").data == b"v2"  # type: ignore[union-attr]


def test_s3_list_get_delete_under_prefix(s3: Any) -> None:
    """GIVEN a prefix THEN keys are relative to it and objects outside are invisible."""
    s3.put_object(Bucket=BUCKET, Key="elsewhere/runs/x.json", Body=b"{}")
    store = S3Storage(BUCKET, "mirror", client=s3)
    for key in ("runs/r1/results/a.json", "runs/r1/results/b.json", "runs/r2/plan.json"):
        store.put_bytes(key, b"{}")
    assert list(store.list("runs/r1/results/")) == ["runs/r1/results/a.json",
                                                    "runs/r1/results/b.json"]
    assert len(list(store.list(""))) == 3
    assert store.get("runs/none.json") is None
    assert store.stored_sha256("runs/none.json") is None
    assert b"".join(store.iter_chunks("runs/r2/plan.json")) == b"{}"
    store.delete("runs/r2/plan.json")
    assert store.get("runs/r2/plan.json") is None


def test_s3_missing_bucket_is_a_storage_error(s3: Any, small_parts: int) -> None:
    """GIVEN a bucket that does not exist THEN every write is a StorageError naming the key."""
    store = S3Storage("no-such-bucket", "", client=s3)
    with pytest.raises(StorageError, match="s3://no-such-bucket/"):
        store.put_bytes("x.json", b"{}")
    big = b"\x03" * (6 * MIB)
    with pytest.raises(StorageError, match=f"s3://no-such-bucket/{KEY}"):
        store.put_verified(KEY, [big], digest(big))
    with pytest.raises(StorageError):
        store.get("x.json")


def test_part_size_is_clamped_whatever_the_announced_size() -> None:
    """GIVEN any size hint THEN parts stay within 8-64 MiB (memory per worker stays flat)."""
    part = storage_module.part_size_for
    assert part(None) == part(0) == part(100) == 8 * MIB
    assert part(storage_module.MAX_PARTS * 20 * MIB) == 20 * MIB
    assert part(1 << 40) == part(10**18) == 64 * MIB  # a hostile 1 TiB or 1 EB announcement


def test_s3_hostile_hint_keeps_parts_small(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a 1 TiB size hint (tampered plan item) THEN the upload uses clamped parts, never one
    PUT holding the whole body: the largest buffer sent is the clamped part size."""
    monkeypatch.setattr(storage_module, "PART_SIZE", 5 * MIB)
    monkeypatch.setattr(storage_module, "MAX_PART_SIZE", 5 * MIB, raising=False)
    sent: list[int] = []
    upload_part, put_object = s3.upload_part, s3.put_object

    def record_part(**kwargs: Any) -> Any:
        sent.append(len(kwargs["Body"]))
        return upload_part(**kwargs)

    def record_put(**kwargs: Any) -> Any:
        sent.append(len(kwargs["Body"]))
        return put_object(**kwargs)

    monkeypatch.setattr(s3, "upload_part", record_part)
    monkeypatch.setattr(s3, "put_object", record_put)
    data = b"\x05" * (11 * MIB)
    S3Storage(BUCKET, "", client=s3).put_verified(KEY, pieces(data, MIB), digest(data),
                                                  size_hint=1 << 40)
    assert max(sent) <= 5 * MIB and sum(sent) == len(data)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"].strip('"').endswith("-3")


class _DiscardS3:
    """An S3 client that accepts and forgets every upload (memory is ours alone to measure)."""

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        return {"UploadId": "u"}

    def upload_part(self, **kwargs: Any) -> dict[str, Any]:
        return {"ETag": "e"}

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        return {"ETag": "e"}


def test_s3_memory_stays_flat_under_a_hostile_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a 48 MiB body announced as 1 TiB, parts clamped to 4 MiB THEN the heap peak
    (tracemalloc) is about two parts, not the body (today's real figures: 200 MiB announced as
    2 TiB peaks at 129 MiB with 64 MiB parts; it was 422 MiB)."""
    import tracemalloc

    monkeypatch.setattr(storage_module, "PART_SIZE", 4 * MIB)
    monkeypatch.setattr(storage_module, "MAX_PART_SIZE", 4 * MIB, raising=False)
    chunk = b"\x06" * MIB
    data_digest = hashlib.sha256(chunk * 48).hexdigest()
    tracemalloc.start()
    try:
        S3Storage(BUCKET, "", client=_DiscardS3()).put_verified(
            KEY, (chunk for _ in range(48)), data_digest, size_hint=1 << 40)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * MIB
