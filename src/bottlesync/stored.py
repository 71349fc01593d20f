"""The destination's vocabulary: the Storage protocol, Stored, and the safe-key check."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from bottlesync.errors import UnsafeKey

CHUNK = 1 << 20
INTERNAL_DIR = ".bottlesync"  # temp files and locks: outside every bottle prefix
# segments that never start with "." (so never "." or ".."), no "\\", NUL, or empty segment
PLAIN_KEY_RE = re.compile(r"[\w@+~:-][\w@+.~:-]*(?:/[\w@+~:-][\w@+.~:-]*)*", re.ASCII)


def check_key(key: str) -> str:
    """Reject keys that could escape the destination prefix; return the key unchanged."""
    if isinstance(key, str) and PLAIN_KEY_RE.fullmatch(key):  # the usual shape, checked fast
        return key
    if (not isinstance(key, str) or not key or key.startswith("/") or "\\" in key
            or "\x00" in key or any(part in ("", ".", "..") for part in key.split("/"))):
        raise UnsafeKey(f"key {key!r} is not a safe relative key")
    return key


def is_safe(key: str) -> bool:
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

    def etag(self, key: str) -> str | None:
        """What get(key).etag would be, without reading the object when that can be avoided
        (None when absent)."""

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
