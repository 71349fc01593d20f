"""Typed decoding with msgspec: straight from bytes into records holding only the fields we read.

json.loads of the catalogue builds every description, URL and variation as Python objects only
to drop them; msgspec skips what a record does not name and checks types as it goes (~4x
quicker, a fraction of the memory). The records' types plus `fits` are the fast checks of the
catalog-entry schema (the same expressions as bottle.py's), so a record that decodes and fits is
valid; when one entry is not, the caller's precise, per-entry path reads the document instead.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from bottlesync.bottle import MAX_REBUILD, NAME_RE, SHA256_RE, TAG_RE, VERSION_RE

# the catalog-entry schema's root_url pattern, anchored
ROOT_URL_RE = re.compile(r"https?://[^\s/?#@\\]+(/[^\s?#\\]*)?[^/\s]")
_Small = Annotated[int, msgspec.Meta(ge=0, le=MAX_REBUILD)]
_HTTP = ("https://", "http://")


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
    return records if all(map(fits, records)) else None


def fits(record: EntryRecord) -> bool:
    """The catalog-entry schema's checks that types alone do not make (patterns, as
    catalog.plainly_valid does them): True means the record is schema-valid."""
    name, version, stable = record.name, record.versions.stable, record.bottle.stable
    if not NAME_RE.fullmatch(name) or ".." in name:
        return False
    if version is not None and not VERSION_RE.fullmatch(version):
        return False
    if isinstance(stable, msgspec.UnsetType):
        return True
    return bool(ROOT_URL_RE.fullmatch(stable.root_url)) and all(
        TAG_RE.fullmatch(tag) and SHA256_RE.fullmatch(info.sha256) and info.url.startswith(_HTTP)
        for tag, info in stable.files.items())


class ManifestEntryRecord(msgspec.Struct, frozen=True):
    """A manifest entry as the plan reads it (the dedup check): its digest and its key."""

    sha256: str
    key: str


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
    digests_ok = all(SHA256_RE.fullmatch(entry.sha256) for entry in record.bottles.values())
    return record if digests_ok else None


class _SizedEntry(msgspec.Struct, frozen=True):
    """A manifest entry as the status page reads it: its size only."""

    size: int | None = None


class _SizedManifest(msgspec.Struct, frozen=True):
    """bottles_hash.json reduced to each entry's size."""

    bottles: dict[str, _SizedEntry]


_SIZES = msgspec.json.Decoder(_SizedManifest)


def manifest_sizes(data: bytes) -> dict[str, int] | None:
    """file -> size for the status page, or None when the manifest does not fit the record."""
    try:
        record: _SizedManifest = _SIZES.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    return {file: max(entry.size or 0, 0) for file, entry in record.bottles.items()}
