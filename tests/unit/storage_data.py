"""Shared data for the storage tests: a bottle key and chunked, hashed bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

KEY = "bottles/wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz"
MIB = 1 << 20


def digest(data: bytes) -> str:
    """sha256 hex."""
    return hashlib.sha256(data).hexdigest()


def pieces(data: bytes, size: int = 64 << 10) -> Iterator[bytes]:
    """`data` in chunks of `size`."""
    for start in range(0, len(data), size):
        yield data[start:start + size]
