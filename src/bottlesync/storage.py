"""Storage: open_storage picks the destination; the storage modules (this one, stored,
local_storage, s3_storage) are the only code that touches files or S3."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bottlesync.errors import ConfigError
from bottlesync.jail import nearest_directory
from bottlesync.local_storage import LocalStorage
from bottlesync.s3_storage import MAX_PART_SIZE, MAX_PARTS, PART_SIZE, S3Storage, part_size_for
from bottlesync.stored import CHUNK, INTERNAL_DIR, Storage, Stored, check_key, is_safe

__all__ = [
    "CHUNK", "INTERNAL_DIR", "MAX_PARTS", "MAX_PART_SIZE", "PART_SIZE", "LocalStorage",
    "S3Storage", "Storage", "Stored", "check_key", "open_storage", "part_size_for",
]

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def open_storage(dest: str, *, s3_client: Any = None) -> Storage:
    """A Storage for `./dir`, `file:///abs` or `s3://bucket[/prefix]`."""
    if dest.startswith("s3://"):
        parts = urlsplit(dest)
        bucket = parts.netloc
        if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
            raise ConfigError(f"{dest}: {bucket!r} is not a valid S3 bucket name")
        prefix = parts.path.strip("/")
        if prefix and not is_safe(prefix):
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

