"""Typed decoding with msgspec: straight from bytes into records holding only the fields we read.

json.loads of the catalogue builds every description, URL and variation as Python objects only
to drop them; msgspec skips what a record does not name and checks types as it goes (~4x
quicker, a fraction of the memory). The records' constraints are the fast checks of the
catalog-entry schema (the same expressions as bottle.py's), so a record that decodes is valid;
anything else is handed back as raw bytes for the caller's precise, per-entry path.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from bottlesync.bottle import MAX_REBUILD, NAME_RE, SHA256_RE, TAG_RE, VERSION_RE


def _full(regex: re.Pattern[str]) -> str:
    """A msgspec pattern (re.search) that matches like `regex.fullmatch`."""
    return rf"\A(?:{regex.pattern})\Z"


_Name = Annotated[str, msgspec.Meta(pattern=_full(NAME_RE))]
_Version = Annotated[str, msgspec.Meta(pattern=_full(VERSION_RE))]
_Tag = Annotated[str, msgspec.Meta(pattern=_full(TAG_RE))]
_Sha256 = Annotated[str, msgspec.Meta(pattern=_full(SHA256_RE))]
_Small = Annotated[int, msgspec.Meta(ge=0, le=MAX_REBUILD)]
_Url = Annotated[str, msgspec.Meta(pattern=r"\Ahttps?://")]
# the catalog-entry schema's root_url, anchored (catalog._ROOT_URL_RE)
_RootUrl = Annotated[str, msgspec.Meta(pattern=r"\Ahttps?://[^\s/?#@\\]+(/[^\s?#\\]*)?[^/\s]\Z")]


class FileRecord(msgspec.Struct, frozen=True):
    """bottle.stable.files.<tag>."""

    url: _Url
    sha256: _Sha256
    cellar: str = ""


class StableRecord(msgspec.Struct, frozen=True):
    """bottle.stable."""

    rebuild: _Small
    root_url: _RootUrl
    files: dict[_Tag, FileRecord]


class BottleRecord(msgspec.Struct, frozen=True):
    """bottle: `stable` may be absent (no bottles), never null."""

    stable: StableRecord | msgspec.UnsetType = msgspec.UNSET


class VersionsRecord(msgspec.Struct, frozen=True):
    """versions: `stable` is required and may be null."""

    stable: _Version | None


class EntryRecord(msgspec.Struct, frozen=True):
    """The fields of a formula.json entry a mirror reads; every other field is skipped."""

    name: _Name
    versions: VersionsRecord
    revision: _Small
    bottle: BottleRecord
    dependencies: list[str] = []
    deprecated: bool = False
    disabled: bool = False


_ENTRIES = msgspec.json.Decoder(list[EntryRecord])
_ENTRY = msgspec.json.Decoder(EntryRecord)
_RAWS = msgspec.json.Decoder(list[msgspec.Raw])


def catalogue_records(data: bytes) -> list[EntryRecord | bytes] | None:
    """Each element as a record, or its raw JSON when it does not fit one; None when `data` is
    not a UTF-8 JSON array msgspec reads (the caller's exact parser then words the error)."""
    try:
        records: list[EntryRecord] = _ENTRIES.decode(data)
        if not any(".." in record.name for record in records):
            return list(records)
    except msgspec.ValidationError:
        pass  # some entry does not fit: find which, one by one
    except msgspec.DecodeError:
        return None
    try:
        raws = _RAWS.decode(data)
    except msgspec.DecodeError:
        return None
    out: list[EntryRecord | bytes] = []
    for raw in raws:
        try:
            record = _ENTRY.decode(raw)
        except msgspec.ValidationError:
            out.append(bytes(raw))
            continue
        out.append(record if ".." not in record.name else bytes(raw))
    return out


class ManifestEntryRecord(msgspec.Struct, frozen=True):
    """A manifest entry as the plan reads it (the dedup check): its digest and its key."""

    sha256: _Sha256
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
        return _MANIFEST.decode(data)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return None
