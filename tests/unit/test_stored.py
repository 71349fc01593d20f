"""stored.py: the safe-key check every storage operation starts with."""

from __future__ import annotations

import pytest

from bottlesync.errors import UnsafeKey
from bottlesync.stored import check_key, is_safe
from tests.unit.storage_data import KEY


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


def test_is_safe_is_check_key_as_a_predicate() -> None:
    """GIVEN a safe and an escaping key THEN True and False, never an exception."""
    assert is_safe(KEY) and not is_safe("a/../b")
