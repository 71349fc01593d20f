"""storage.py: open_storage choosing the backend for a destination, and the re-exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from bottlesync import local_storage, s3_storage, stored
from bottlesync.errors import ConfigError
from bottlesync.storage import LocalStorage, S3Storage, Storage, Stored, check_key, open_storage


# -- open_storage ------------------------------------------------------------------------------
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


def test_the_split_modules_are_re_exported() -> None:
    """GIVEN the old import path THEN the same objects as the modules that now hold them."""
    assert (LocalStorage, S3Storage) == (local_storage.LocalStorage, s3_storage.S3Storage)
    assert (Storage, Stored, check_key) == (stored.Storage, stored.Stored, stored.check_key)
