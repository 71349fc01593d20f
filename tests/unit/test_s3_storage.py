"""S3Storage (moto): one checksummed PUT or a verified multipart; CAS by conditional writes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from bottlesync import s3_storage as storage_module
from bottlesync.errors import DigestMismatch, ManifestConflict, StorageError
from bottlesync.s3_storage import S3Storage
from tests.unit.conftest import BUCKET
from tests.unit.storage_data import KEY, MIB, digest, pieces


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


def test_s3_etag_is_the_gets_without_the_body(s3: Any) -> None:
    """GIVEN the manifest written twice THEN etag() names what get() would, from a HEAD alone;
    an absent key has none."""
    store = S3Storage(BUCKET, "p", client=s3)
    assert store.etag("bottles_hash.json") is None
    first = store.put_if_match("bottles_hash.json", b"v1", None)
    assert store.etag("bottles_hash.json") == first == store.get("bottles_hash.json").etag  # type: ignore[union-attr]
    second = store.put_if_match("bottles_hash.json", b"v2", first)
    assert store.etag("bottles_hash.json") == second != first
