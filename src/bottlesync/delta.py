"""The delta's table of contents (`delta.json`) and the names a delta may carry."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from bottlesync.bottle import BREW_FILE_RE, DAY_RE, SHA256_RE
from bottlesync.errors import DeltaError, UnsafeKey
from bottlesync.storage import check_key

TOC_NAME = "delta.json"
TOC_FORMAT = "bottlesync-delta/1"
MAX_TOC_BYTES = 64 << 20
BOTTLE, INDEX, API = 0, 1, 2  # the order members must come in: metadata after what it names
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_PREFIX = r"(?:bottles|v2/homebrew/core|[0-9]{4}-[0-9]{2}-[0-9]{2})"
INDEX_KEY_RE = re.compile(
    rf"(?P<prefix>{_PREFIX})/(?P<image>{_SEGMENT}(?:/{_SEGMENT})?)/manifests/"
    r"(?P<vr>[A-Za-z0-9][A-Za-z0-9._+~-]{0,63})")
API_KEY_RE = re.compile(rf"api/(?:{_SEGMENT}/)*{_SEGMENT}\.json")
_ARTIFACT_RE = re.compile(
    rf"v2/homebrew/core/{_SEGMENT}(?:/{_SEGMENT})?/blobs/sha256:[0-9a-f]{{64}}")


def toc_digest(doc: dict[str, Any]) -> str:
    """sha256 of the table's canonical JSON without its own `toc_sha256` field."""
    body = {k: v for k, v in doc.items() if k != "toc_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()


def bottle_key_ok(file: str, key: str, sha256: str) -> bool:
    """True when `key` is where some layout keeps the bottle `file` with this sha256."""
    if not BREW_FILE_RE.search(file) or "/" in file:
        return False
    day, _, rest = key.partition("/")
    if rest == file and (day == "bottles" or DAY_RE.fullmatch(day)):
        return True
    return bool(_ARTIFACT_RE.fullmatch(key)) and key.endswith(f"sha256:{sha256}")


def layout_of(key: str) -> str:
    """The layout a bottle key belongs to (the status page prints the matching client setting)."""
    if key.startswith("bottles/"):
        return "bottle-domain"
    return "artifact-domain" if key.startswith("v2/") else "dated"


def kind_of(name: str, bottle_keys: AbstractSet[str]) -> int | None:
    """BOTTLE, INDEX or API for a layout key, None for anything else."""
    try:
        check_key(name)
    except UnsafeKey:
        return None
    if name in bottle_keys:
        return BOTTLE
    if INDEX_KEY_RE.fullmatch(name):
        return INDEX
    if API_KEY_RE.fullmatch(name):
        return API
    return None


@dataclass(frozen=True)
class Toc:
    """A checked table of contents: members by name, manifest entries by file name."""

    doc: dict[str, Any]
    members: dict[str, tuple[str, int]]  # name -> (sha256, size), in tar order
    entries: dict[str, dict[str, Any]]
    bottle_keys: frozenset[str]

    @property
    def digest(self) -> str:
        """The table's own sha256 (what an operator compares across the gap)."""
        return str(self.doc["toc_sha256"])

    def kind(self, name: str) -> int | None:
        """The member kind of `name` (None when it is not a layout key)."""
        return kind_of(name, self.bottle_keys)


def parse_toc(data: bytes, where: str, expect_sha256: str | None = None) -> Toc:
    """Parse delta.json and check its hash, members and entries; DeltaError names the problem."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DeltaError(f"{where}: {TOC_NAME} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != TOC_FORMAT:
        raise DeltaError(f"{where}: {TOC_NAME} is not a {TOC_FORMAT} table of contents")
    if doc.get("toc_sha256") != toc_digest(doc):
        raise DeltaError(f"{where}: {TOC_NAME} does not match its own toc_sha256 (forged or "
                         f"damaged)")
    if expect_sha256 is not None and doc["toc_sha256"] != expect_sha256:
        raise DeltaError(f"{where}: {TOC_NAME} sha256 {doc['toc_sha256']} is not the expected "
                         f"{expect_sha256}")
    members = _members(doc.get("members"), where)
    entries = _entries(doc.get("entries"), members, where)
    toc = Toc(doc=doc, members=members, entries=entries,
              bottle_keys=frozenset(e["key"] for e in entries.values()))
    for name in members:
        if toc.kind(name) is None:
            raise DeltaError(f"{where}: member {name!r} is not a layout key")
    return toc


def _members(raw: object, where: str) -> dict[str, tuple[str, int]]:
    """name -> (sha256, size) from the table's `members` list."""
    if not isinstance(raw, list):
        raise DeltaError(f"{where}: {TOC_NAME}: members must be a list")
    members: dict[str, tuple[str, int]] = {}
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        sha = item.get("sha256") if isinstance(item, dict) else None
        size = item.get("size") if isinstance(item, dict) else None
        if (not isinstance(name, str) or not isinstance(sha, str) or not SHA256_RE.fullmatch(sha)
                or type(size) is not int or size < 0 or name in members):
            raise DeltaError(f"{where}: {TOC_NAME}: members[{i}] is not a unique "
                             f"{{name, sha256, size}}")
        members[name] = (sha, size)
    return members


def _entries(raw: object, members: dict[str, tuple[str, int]],
             where: str) -> dict[str, dict[str, Any]]:
    """Manifest entries, each naming a bottle member with the same sha256."""
    if not isinstance(raw, dict):
        raise DeltaError(f"{where}: {TOC_NAME}: entries must be an object")
    for file, entry in raw.items():
        key = entry.get("key") if isinstance(entry, dict) else None
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        if (not isinstance(key, str) or not isinstance(sha, str)
                or not bottle_key_ok(file, key, sha) or members.get(key, ("",))[0] != sha):
            raise DeltaError(f"{where}: {TOC_NAME}: entries.{file} does not name a bottle "
                             f"member with its sha256")
    return dict(raw)
