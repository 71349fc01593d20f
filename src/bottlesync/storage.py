"""Storage: the only code that touches files or S3. Writes are verified and atomic."""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import os
import re
import stat
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from bottlesync.errors import (
    ConfigError,
    DestinationError,
    DigestMismatch,
    ManifestConflict,
    StorageError,
    UnsafeKey,
)
from bottlesync.jail import check_inside, nearest_directory, preflight

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1 << 20
PART_SIZE = 8 << 20  # S3 multipart part: memory per worker is bounded by this, not the bottle
MAX_PART_SIZE = 64 << 20  # whatever size a (hostile) registry announces: 64 MiB x 9,000 > 500 GiB
MAX_PARTS = 9_000
INTERNAL_DIR = ".bottlesync"  # temp files and locks: outside every bottle prefix
# segments that never start with "." (so never "." or ".."), no "\\", NUL, or empty segment
_PLAIN_KEY_RE = re.compile(r"[\w@+~:-][\w@+.~:-]*(?:/[\w@+~:-][\w@+.~:-]*)*", re.ASCII)
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_key(key: str) -> str:
    """Reject keys that could escape the destination prefix; return the key unchanged."""
    if isinstance(key, str) and _PLAIN_KEY_RE.fullmatch(key):  # the usual shape, checked fast
        return key
    if (not isinstance(key, str) or not key or key.startswith("/") or "\\" in key
            or "\x00" in key or any(part in ("", ".", "..") for part in key.split("/"))):
        raise UnsafeKey(f"key {key!r} is not a safe relative key")
    return key


def _is_safe(key: str) -> bool:
    """check_key as a predicate."""
    try:
        check_key(key)
    except UnsafeKey:
        return False
    return True


@dataclass(frozen=True)
class Stored:
    """A small object read whole, with the tag that a conditional write must match."""

    data: bytes
    etag: str


class Storage(Protocol):
    """What the domain needs from a destination."""

    base: str

    def describe(self, key: str) -> str:
        """Where `key` lives, for messages (a path or an s3:// URI)."""

    def get(self, key: str) -> Stored | None:
        """The whole object and its etag, or None when absent."""

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """Stream an object (for re-hashing); StorageError when absent."""

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write a small object atomically (plans, fragments, run records, the status page)."""

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        """Compare-and-swap: write only if the current etag is `etag` (None: absent)."""

    def put_verified(self, key: str, chunks: Iterable[bytes], sha256: str,
                     size_hint: int | None = None) -> int:
        """Stream into a hidden place while hashing; publish under `key` only if sha256 matches."""

    def stored_sha256(self, key: str) -> str | None:
        """The sha256 of the object under `key` (None when absent)."""

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under a prefix."""

    def delete(self, key: str) -> None:
        """Remove an object (absent is fine)."""


def open_storage(dest: str, *, s3_client: Any = None) -> Storage:
    """A Storage for `./dir`, `file:///abs` or `s3://bucket[/prefix]`."""
    if dest.startswith("s3://"):
        parts = urlsplit(dest)
        bucket = parts.netloc
        if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
            raise ConfigError(f"{dest}: {bucket!r} is not a valid S3 bucket name")
        prefix = parts.path.strip("/")
        if prefix and not _is_safe(prefix):
            raise ConfigError(f"{dest}: prefix {prefix!r} is not a safe key prefix")
        return S3Storage(bucket, prefix, client=s3_client)
    if dest.startswith("file://"):
        parts = urlsplit(dest)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(f"{dest}: a file:// destination must be file:///absolute/path")
        root = Path(parts.path)
    elif "://" in dest:
        raise ConfigError(f"{dest}: destination must be a directory, file:///path or s3://bucket")
    else:
        root = Path(dest)
    nearest_directory(root)  # a file in the way: one clear line before anything is read
    return LocalStorage(root)


class LocalStorage:
    """A directory: temp files under `.bottlesync/tmp`, fsync, then rename into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = str(root)
        self._writing = threading.Lock()
        self._writer: IO[str] | None = None

    def describe(self, key: str) -> str:
        return str(self.root / check_key(key))

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _tmp(self) -> Path:
        return self._ready() / f"{uuid.uuid4().hex}.part"

    def _ready(self) -> Path:
        """The temp directory; on the first write, check the jail before touching anything."""
        tmp = self.root / INTERNAL_DIR / "tmp"
        with self._writing:
            if self._writer is None:
                preflight(self.root)
                try:
                    tmp.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise DestinationError(f"{tmp}: cannot create: {exc.strerror}") from None
                check_inside(self.root, tmp)
                self._writer = self._sweep(tmp)
        return tmp

    def _sweep(self, tmp: Path) -> IO[str]:
        """Hold a shared writers' flock while alive; if alone, delete dead writers' temp files."""
        writers = (self.root / INTERNAL_DIR / "writers.lock").open("a")
        weakref.finalize(self, writers.close)
        try:
            fcntl.flock(writers.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another writer is alive: its temp files are in use
        else:
            for stale in tmp.glob("*.part"):
                stale.unlink(missing_ok=True)
        fcntl.flock(writers.fileno(), fcntl.LOCK_SH)
        return writers

    def get(self, key: str) -> Stored | None:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot read: {exc.strerror}") from None
        return Stored(data, hashlib.sha256(data).hexdigest())

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            with self._path(key).open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot read: {exc.strerror}") from None

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._publish(key, [data], None)  # a local server types files by their name

    def put_verified(self, key: str, chunks: Iterable[bytes], sha256: str,
                     size_hint: int | None = None) -> int:
        return self._publish(key, chunks, sha256)

    def _publish(self, key: str, chunks: Iterable[bytes], sha256: str | None) -> int:
        """Write to a temp file while hashing, fsync, check, then rename over `key`."""
        target = self._path(key)
        tmp = self._tmp()
        digest = hashlib.sha256()
        size = 0
        published = False
        try:
            with tmp.open("wb") as fh:
                for chunk in chunks:
                    digest.update(chunk)
                    fh.write(chunk)
                    size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            if sha256 is not None and digest.hexdigest() != sha256:
                raise DigestMismatch(self.describe(key), sha256, digest.hexdigest())
            check_inside(self.root, target.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            check_inside(self.root, target.parent)  # a symlink planted meanwhile
            tmp.replace(target)
            published = True
            _fsync_dir(target.parent)
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot write: {exc.strerror}") from None
        finally:
            if not published:  # a failing unlink per bottle costs more than the rename
                tmp.unlink(missing_ok=True)
        return size

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        with self._lock(key):
            current = self.get(key)
            current_etag = current.etag if current else None
            if current_etag != etag:
                raise ManifestConflict(f"{self.describe(key)} changed since it was read")
            self.put_bytes(key, data)
        return hashlib.sha256(data).hexdigest()

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        """An exclusive flock on `.bottlesync/locks/<key>.lock` (released if we die)."""
        lock = self.root / INTERNAL_DIR / "locks" / (check_key(key).replace("/", "%") + ".lock")
        self._ready()
        check_inside(self.root, lock.parent)
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def stored_sha256(self, key: str) -> str | None:
        digest = hashlib.sha256()
        try:  # absent when opened means None: no exists() re-check racing a concurrent rename
            with self._path(key).open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot read: {exc.strerror}") from None
        return digest.hexdigest()

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and not rel.startswith(INTERNAL_DIR + "/"):
                yield rel

    def delete(self, key: str) -> None:
        path = self._path(key)
        check_inside(self.root, path.parent)
        path.unlink(missing_ok=True)

    def open_public(self, key: str) -> tuple[IO[bytes], os.stat_result] | None:
        """A regular file to serve, or None: never .bottlesync/, a directory, or a path that
        resolves (through symlinks) outside the root."""
        if not _is_safe(key) or key.split("/", 1)[0] == INTERNAL_DIR:
            return None
        root = self.root.resolve()
        try:
            path = (root / key).resolve(strict=True)
            rel = path.relative_to(root)
        except (OSError, RuntimeError, ValueError):  # missing, a loop, or outside the root
            return None
        if not rel.parts or rel.parts[0] == INTERNAL_DIR:
            return None
        try:  # O_NOFOLLOW: a symlink swapped in after resolve() is refused, not followed
            handle = os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")
        except OSError:
            return None
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            handle.close()
            return None
        return handle, info


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


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
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, key, "read") from None
        except BotoCoreError as exc:
            raise self._error(exc, key, "read") from None
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
