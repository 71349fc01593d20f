"""LocalStorage: a directory destination, written through temp files, fsync and rename."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from bottlesync.errors import DestinationError, DigestMismatch, ManifestConflict, StorageError
from bottlesync.jail import check_inside, nofollow_parent, preflight
from bottlesync.stored import CHUNK, INTERNAL_DIR, Stored, check_key, is_safe


class LocalStorage:
    """A directory: temp files under `.bottlesync/tmp`, fsync, then rename into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = str(root)
        self._writing = threading.Lock()
        self._writer: IO[str] | None = None
        self._etags: dict[str, tuple[tuple[int, ...], str]] = {}  # key -> (file identity, etag)

    def describe(self, key: str) -> str:
        return str(self.root / check_key(key))

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _tmp(self) -> Path:
        return self._ready() / f"{secrets.token_hex(16)}.part"

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
            with self._path(key).open("rb") as fh:
                identity = _identity(os.fstat(fh.fileno()))
                data = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot read: {exc.strerror}") from None
        stored = Stored(data, hashlib.sha256(data).hexdigest())
        self._etags[key] = (identity, stored.etag)
        return stored

    def etag(self, key: str) -> str | None:
        try:
            identity = _identity(self._path(key).stat())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot read: {exc.strerror}") from None
        known = self._etags.get(key)
        if known is not None and known[0] == identity:
            return known[1]  # the very file this storage read (every write is a new inode)
        stored = self.get(key)
        return stored.etag if stored is not None else None

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
            published = self._rename_plain(tmp, key) or self._rename_checked(tmp, target)
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot write: {exc.strerror}") from None
        finally:
            if not published:  # a failing unlink per bottle costs more than the rename
                tmp.unlink(missing_ok=True)
        return size

    def _rename_plain(self, tmp: Path, key: str) -> bool:
        """Rename into a parent reached from the root without following any symlink, then fsync
        that directory through the same handle; False when a folder is missing or a symlink."""
        parent = nofollow_parent(self.root, key)
        if parent is None:
            return False
        try:
            os.replace(tmp, key.rpartition("/")[2], dst_dir_fd=parent)
            _fsync_fd(parent)
        finally:
            os.close(parent)
        return True

    def _rename_checked(self, tmp: Path, target: Path) -> bool:
        """Create missing folders and follow symlinks that stay inside the root, checked twice."""
        check_inside(self.root, target.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        check_inside(self.root, target.parent)  # a symlink planted meanwhile
        tmp.replace(target)
        _fsync_dir(target.parent)
        return True

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
        if not is_safe(key) or key.split("/", 1)[0] == INTERNAL_DIR:
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
        _fsync_fd(fd)
    finally:
        os.close(fd)


def _fsync_fd(fd: int) -> None:
    """fsync an open directory; filesystems that cannot are skipped (best effort)."""
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise


def _identity(info: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file is replaced or written: inode, size, mtime and ctime."""
    return info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
