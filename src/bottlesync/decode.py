"""Typed decoding with msgspec: straight from bytes into records holding only the fields we read.

json.loads of the catalogue builds every description, URL and variation as Python objects only
to drop them; msgspec skips what a record does not name and checks types as it goes (~4x
quicker, a fraction of the memory). The records' types plus `fits` are the fast checks of the
catalog-entry schema (the same expressions as bottle.py's), so a record that decodes and fits is
valid; when one entry is not, the caller's precise, per-entry path reads the document instead.
"""

from __future__ import annotations

import re
from itertools import repeat
from typing import Annotated

import msgspec

from bottlesync.bottle import MAX_REBUILD, NAME_RE, TAG_RE, VERSION_RE

# the catalog-entry schema's root_url pattern, anchored
ROOT_URL_RE = re.compile(r"https?://[^\s/?#@\\]+(/[^\s?#\\]*)?[^/\s]")
_Small = Annotated[int, msgspec.Meta(ge=0, le=MAX_REBUILD)]


class FileRecord(msgspec.Struct, frozen=True):
    """bottle.stable.files.<tag>."""

    url: str
    sha256: str
    cellar: str = ""


class StableRecord(msgspec.Struct, frozen=True):
    """bottle.stable."""

    rebuild: _Small
    root_url: str
    files: dict[str, FileRecord]


class BottleRecord(msgspec.Struct, frozen=True):
    """bottle: `stable` may be absent (no bottles), never null."""

    stable: StableRecord | msgspec.UnsetType = msgspec.UNSET


class VersionsRecord(msgspec.Struct, frozen=True):
    """versions: `stable` is required and may be null."""

    stable: str | None


class EntryRecord(msgspec.Struct, frozen=True):
    """The fields of a formula.json entry a mirror reads; every other field is skipped."""

    name: str
    versions: VersionsRecord
    revision: _Small
    bottle: BottleRecord
    dependencies: list[str] = []
    deprecated: bool = False
    disabled: bool = False


_ENTRIES = msgspec.json.Decoder(list[EntryRecord])


def catalogue_records(data: bytes) -> list[EntryRecord] | None:
    """Every element as a record, or None when any one does not fit (or `data` is not a UTF-8
    JSON array msgspec reads): the caller's exact, entry-by-entry parser then reports each bad
    entry, or the document, with the same words as always."""
    try:
        records: list[EntryRecord] = _ENTRIES.decode(data)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    return records if all_fit(records) else None


def all_fit(records: list[EntryRecord]) -> bool:
    """The catalog-entry schema's checks that types alone do not make (patterns, as
    catalog.plainly_valid does them), for every record: True means all are schema-valid.
    One regex pass per field over all records at once (a regex call per field and bottle was
    most of the check's cost); tags and root URLs, a handful of distinct values over 44k
    bottles, are checked once each."""
    names = [r.name for r in records]
    versions = [r.versions.stable for r in records if r.versions.stable is not None]
    stables = [r.bottle.stable for r in records
               if not isinstance(r.bottle.stable, msgspec.UnsetType)]
    files = [info for stable in stables for info in stable.files.values()]
    return (_all_match(NAME_RE, names) and ".." not in "\n".join(names)
            and _all_match(VERSION_RE, versions)
            and _all_match(ROOT_URL_RE, list({stable.root_url for stable in stables}))
            and _all_match(TAG_RE, list({tag for stable in stables for tag in stable.files}))
            and all_digests([info.sha256 for info in files])
            and all_http([info.url for info in files]))


def all_digests(texts: list[str]) -> bool:
    """SHA256_RE.fullmatch(t) for every t (64 lowercase hex digits), without a regex: every
    length is 64 and deleting the hex digits from all of them leaves nothing."""
    if not set(map(len, texts)) <= {64}:
        return False
    try:
        joined = "".join(texts).encode("ascii")
    except UnicodeEncodeError:
        return False
    return not joined.translate(None, b"0123456789abcdef")


def all_http(urls: list[str]) -> bool:
    """Every URL starts with http:// or https:// and holds no newline (the fast check's rule,
    stricter than the schema's prefix pattern)."""
    return all(map(str.startswith, urls, repeat(_HTTP))) and "\n" not in "".join(urls)


_HTTP = ("https://", "http://")


def _many(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """`pattern` repeated, newline-separated: what fullmatches texts joined by newlines."""
    return re.compile(f"(?:{pattern.pattern})(?:\n(?:{pattern.pattern}))*", pattern.flags)


_MANY = {pattern: _many(pattern)
         for pattern in (NAME_RE, VERSION_RE, ROOT_URL_RE, TAG_RE)}


def _all_match(pattern: re.Pattern[str], texts: list[str]) -> bool:
    """pattern.fullmatch(t) for every t: one match over the texts joined by newlines (none of
    these patterns accepts one; a text holding one changes the count, so it fails too)."""
    if not texts:
        return True
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1:
        return False
    return _MANY[pattern].fullmatch(joined) is not None


class ManifestEntryRecord(msgspec.Struct, frozen=True):
    """A manifest entry as the plan (digest, key) and the status page (size) read it."""

    sha256: str
    key: str
    size: int | None = None


class ManifestRecord(msgspec.Struct, frozen=True):
    """bottles_hash.json, entries reduced to what the dedup check reads."""

    schema: int
    bottles: dict[str, ManifestEntryRecord]
    updated_at: str | None = None


_MANIFEST = msgspec.json.Decoder(ManifestRecord)


def manifest_record(data: bytes) -> ManifestRecord | None:
    """The manifest as a record, or None when it does not fit (the caller's exact check then
    names what is wrong)."""
    try:
        record: ManifestRecord = _MANIFEST.decode(data)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    digests_ok = all_digests([entry.sha256 for entry in record.bottles.values()])
    return record if digests_ok else None


def plain_keys(record: ManifestRecord) -> bool:
    """Every entry's key has the usual safe shape (PLAIN_KEY_RE: segments of [\\w@+.~:-], none
    empty or starting with "."), checked for all keys at once without a regex; False means
    "look closer": check_key decides entry by entry."""
    keys = [entry.key for entry in record.bottles.values()]
    if not keys:
        return True
    try:
        joined = ("\n" + "\n".join(keys) + "\n").encode("ascii")
    except UnicodeEncodeError:
        return False
    if joined.translate(None, _KEY_BYTES) != b"\n" * (len(keys) + 1):
        return False
    ends = joined.translate(_SEGMENT_ENDS)  # "/" and "\n" both end a segment: two searches
    return b"\n\n" not in ends and b"\n." not in ends  # an empty segment, one starting "."


_KEY_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@+.~:-/"
_SEGMENT_ENDS = bytes.maketrans(b"/", b"\n")
