"""S3Storage: a bucket destination, small objects by one PUT, large ones by verified multipart."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from bottlesync.errors import DigestMismatch, ManifestConflict, StorageError
from bottlesync.stored import CHUNK, Stored, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_SIZE = 8 << 20  # S3 multipart part: memory per worker is bounded by this, not the bottle
MAX_PART_SIZE = 64 << 20  # whatever size a (hostile) registry announces: 64 MiB x 9,000 > 500 GiB
MAX_PARTS = 9_000


class S3Storage:
    """A bucket (and prefix): small objects by one PUT, large ones by a verified multipart."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        if client is None:
            import boto3  # the only place the domain imports boto3 for storage

            client = boto3.client("s3")
        self.client: S3Client = client
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.base = f"s3://{bucket}/{prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _error(self, exc: Exception, key: str, action: str) -> StorageError:
        return StorageError(f"{self.describe(key)}: cannot {action}: {_aws_reason(exc)}")

    def get(self, key: str) -> Stored | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return Stored(response["Body"].read(), response["ETag"])
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._error(exc, key, "read") from None
        except BotoCoreError as exc:
            raise self._error(exc, key, "read") from None

    def etag(self, key: str) -> str | None:
        head = self._head(key)
        return str(head["ETag"]) if head is not None else None

    def _head(self, key: str) -> Any:
        """The object's HEAD (ETag, Metadata), or None when absent."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, key, "read") from None
        except BotoCoreError as exc:
            raise self._error(exc, key, "read") from None

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            yield from body.iter_chunks(CHUNK)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key, "read") from None

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}  # S3 serves it as this
        self._put(key, data, hashlib.sha256(data).digest(), **extra)

    def _put(self, key: str, data: bytes, digest: bytes, **extra: Any) -> str:
        """One PUT with a SHA-256 checksum S3 verifies on arrival."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data,
                ChecksumSHA256=base64.b64encode(digest).decode(),
                Metadata={"sha256": digest.hex()}, **extra)
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise ManifestConflict(f"{self.describe(key)} changed since it was read") from None
            raise self._error(exc, key, "write") from None
        except BotoCoreError as exc:
            raise self._error(exc, key, "write") from None
        return str(response["ETag"])

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        return self._put(key, data, hashlib.sha256(data).digest(), **condition)

    def put_verified(self, key: str, chunks: Iterable[bytes], sha256: str,
                     size_hint: int | None = None) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        part_size = part_size_for(size_hint)
        digest = hashlib.sha256()
        buffer = bytearray()
        upload: _Multipart | None = None
        size = 0
        try:
            for chunk in chunks:
                digest.update(chunk)
                buffer += chunk
                size += len(chunk)
                if len(buffer) >= part_size:
                    upload = upload or _Multipart(self, key, sha256)
                    upload.add(bytes(buffer))
                    buffer.clear()
            actual = digest.hexdigest()
            if actual != sha256:
                raise DigestMismatch(self.describe(key), sha256, actual)
            if upload is None:
                self._put(key, bytes(buffer), digest.digest())
            else:
                if buffer:
                    upload.add(bytes(buffer))
                upload.complete()
                upload = None
        except (ClientError, BotoCoreError) as exc:  # multipart calls: a StorageError like _put
            raise self._error(exc, key, "write") from None
        finally:
            if upload is not None:
                upload.abort()
        return size

    def stored_sha256(self, key: str) -> str | None:
        head = self._head(key)
        if head is None:
            return None
        recorded = head.get("Metadata", {}).get("sha256")
        return recorded if isinstance(recorded, str) else None

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"][len(self.prefix):]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def part_size_for(size_hint: int | None) -> int:
    """The multipart part size: grows with the announced size, clamped to PART_SIZE..MAX."""
    return min(MAX_PART_SIZE, max(PART_SIZE, -(-(size_hint or 0) // MAX_PARTS)))


class _Multipart:
    """A multipart upload that is completed only after the caller verified the digest."""

    def __init__(self, storage: S3Storage, key: str, sha256: str) -> None:
        self.storage = storage
        self.key = storage._key(key)
        self.display = storage.describe(key)
        created = storage.client.create_multipart_upload(
            Bucket=storage.bucket, Key=self.key, Metadata={"sha256": sha256})
        self.upload_id = created["UploadId"]
        self.parts: list[dict[str, Any]] = []

    def add(self, data: bytes) -> None:
        number = len(self.parts) + 1
        response = self.storage.client.upload_part(
            Bucket=self.storage.bucket, Key=self.key, UploadId=self.upload_id,
            PartNumber=number, Body=data,
            ContentMD5=base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode())
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def complete(self) -> None:
        self.storage.client.complete_multipart_upload(
            Bucket=self.storage.bucket, Key=self.key, UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts})  # type: ignore[typeddict-item]

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.storage.client.abort_multipart_upload(
                Bucket=self.storage.bucket, Key=self.key, UploadId=self.upload_id)


def _code(exc: Exception) -> str:
    """The error code of a botocore ClientError."""
    response = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _aws_reason(exc: Exception) -> str:
    """A short description of an AWS failure."""
    code = _code(exc)
    return f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}"
