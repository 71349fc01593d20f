"""bottles_hash.json: what the mirror holds, committed by compare-and-swap so no writer is lost."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bottlesync.bottle import SHA256_RE, is_manifest_key
from bottlesync.decode import ManifestEntryRecord, ManifestRecord, manifest_record, plain_keys
from bottlesync.errors import BottlesyncError, ManifestConflict, ManifestError, UnsafeKey
from bottlesync.schemas import first_error
from bottlesync.storage import S3Storage, Storage, check_key
from bottlesync.upstream import Upstream

MANIFEST_KEY = "bottles_hash.json"
SCHEMA_VERSION = 1
COMMIT_ATTEMPTS = 20


@dataclass
class Manifest:
    """File name -> entry ({sha256, size, key, synced_at, run_id})."""

    bottles: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated_at: str | None = None

    def has(self, file: str, sha256: str) -> bool:
        """Present means: listed with the same sha256."""
        entry = self.bottles.get(file)
        return entry is not None and entry.get("sha256") == sha256

    def to_bytes(self) -> bytes:
        """Stable, diff-friendly JSON."""
        doc = {"schema": SCHEMA_VERSION, "updated_at": self.updated_at,
               "bottles": dict(sorted(self.bottles.items()))}
        return json.dumps(doc, indent=1, sort_keys=False).encode() + b"\n"


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Parse and check bottles_hash.json; ManifestError names the place and the entry."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ManifestError(f"{where}: not JSON: {exc}") from None
    problem = first_error("manifest", doc)
    if problem is not None:
        raise ManifestError(f"{where}: {problem}")
    for file, entry in doc["bottles"].items():
        _check_entry(file, entry, where)
    return Manifest(bottles=doc["bottles"], updated_at=doc.get("updated_at"))


def _check_entry(file: str, entry: object, where: str) -> None:
    """One manifest entry: an object with a 64-hex sha256 and a safe key."""
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: bottles.{file}: not an object")
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha):
        raise ManifestError(f"{where}: bottles.{file}.sha256: {sha!r} is not 64 hex digits")
    try:
        check_key(entry.get("key"))  # type: ignore[arg-type]
    except UnsafeKey as exc:
        raise ManifestError(f"{where}: bottles.{file}.key: {exc}") from None
    if not is_manifest_key(file, sha, entry.get("key")):
        raise ManifestError(f"{where}: bottles.{file}.key: {entry.get('key')!r} is not a "
                            f"bottle key of {file!r} in any layout")


def load_manifest(storage: Storage) -> tuple[Manifest, str | None]:
    """The current manifest and its etag (an empty manifest and None when there is none)."""
    stored = storage.get(MANIFEST_KEY)
    if stored is None:
        return Manifest(), None
    return parse_manifest(stored.data, storage.describe(MANIFEST_KEY)), stored.etag


def load_present(storage: Storage) -> Mapping[str, ManifestEntryRecord]:
    """file -> entry (sha256, key, size) for the plan's dedup check, decoded straight into
    those fields.

    A key is trusted only where it equals the key the plan computes (or is a layout key of its
    file, before a copy reads it).
    """
    entries = _read_entries(storage)
    if isinstance(entries, Manifest):
        return {file: ManifestEntryRecord(entry["sha256"], entry["key"], entry.get("size"))
                for file, entry in entries.bottles.items()}
    return entries


def load_sizes(storage: Storage) -> dict[str, Any]:
    """file -> size as listed (None when absent), for the status page's per-tag figures,
    without parse_manifest's per-entry checks when the manifest fits the typed record."""
    entries = _read_entries(storage, keys=False)
    if isinstance(entries, Manifest):
        return {file: entry.get("size") for file, entry in entries.bottles.items()}
    return {file: entry.size for file, entry in entries.items()}


def _read_entries(storage: Storage, keys: bool = True
                  ) -> Mapping[str, ManifestEntryRecord] | Manifest:
    """The typed entries (none when there is no manifest); a manifest that does not fit the
    record (nor, when `keys`, has only safe keys) takes parse_manifest's checks, which name
    the place and the entry as always."""
    stored = storage.get(MANIFEST_KEY)
    if stored is None:
        return {}
    record = manifest_record(stored.data)
    if record is None or record.schema != SCHEMA_VERSION or (keys and not _safe_keys(record)):
        return parse_manifest(stored.data, storage.describe(MANIFEST_KEY))
    return record.bottles


def _safe_keys(record: ManifestRecord) -> bool:
    """True when every entry's key is a safe relative key."""
    if plain_keys(record):
        return True
    try:
        for entry in record.bottles.values():
            check_key(entry.key)
    except UnsafeKey:
        return False
    return True


def commit_entries(storage: Storage, entries: Mapping[str, dict[str, Any]], *, now: str,
                   sleep: Callable[[float], None] = time.sleep,
                   attempts: int = COMMIT_ATTEMPTS) -> Manifest:
    """Merge `entries` into the manifest with compare-and-swap, re-reading on every conflict."""
    return update_manifest(storage, lambda m: m.bottles.update(entries), now=now, sleep=sleep,
                           attempts=attempts)


def update_manifest(storage: Storage, change: Callable[[Manifest], None], *, now: str,
                    sleep: Callable[[float], None] = time.sleep,
                    attempts: int = COMMIT_ATTEMPTS) -> Manifest:
    """Apply `change` to a fresh read of the manifest and write it by compare-and-swap."""
    for attempt in range(1, attempts + 1):
        manifest, etag = load_manifest(storage)
        change(manifest)
        manifest.updated_at = now
        try:
            storage.put_if_match(MANIFEST_KEY, manifest.to_bytes(), etag)
            return manifest
        except ManifestConflict:
            if attempt == attempts:
                raise
            sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
    raise ManifestConflict(f"{storage.describe(MANIFEST_KEY)}: gave up")  # pragma: no cover


def load_seed(uri: str, upstream: Upstream, s3_client: Any = None) -> dict[str, str]:
    """An external manifest (s3:// or https://) as file name -> sha256, for the dedup check.

    Accepts our own format or a flat {file: sha256} map (the original system's hash source).
    """
    try:
        if uri.startswith("s3://"):
            parts = urlsplit(uri)
            stored = S3Storage(parts.netloc, "", client=s3_client).get(parts.path.lstrip("/"))
            if stored is None:
                raise ManifestError(f"seed manifest {uri} does not exist")
            data = stored.data
        elif uri.startswith(("https://", "http://")):
            data = upstream.get_bytes(uri, "seed manifest")
        else:
            raise ManifestError(f"seed manifest {uri!r} must be an s3:// or https:// URI")
    except ManifestError:
        raise
    except BottlesyncError as exc:
        raise ManifestError(f"seed manifest {uri}: {exc}") from None
    return _seed_hashes(data, uri)


def _seed_hashes(data: bytes, uri: str) -> dict[str, str]:
    """file -> sha256 from either manifest format."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ManifestError(f"seed manifest {uri}: not JSON: {exc}") from None
    if isinstance(doc, dict) and "bottles" in doc:
        bottles = parse_manifest(data, f"seed manifest {uri}").bottles
        return {file: entry["sha256"] for file, entry in bottles.items()}
    if not isinstance(doc, dict):
        raise ManifestError(f"seed manifest {uri}: expected an object of file -> sha256")
    hashes: dict[str, str] = {}
    for file, value in doc.items():
        sha = value.get("sha256") if isinstance(value, dict) else value
        if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha):
            raise ManifestError(f"seed manifest {uri}: {file}: {sha!r} is not 64 hex digits")
        hashes[file] = sha
    return hashes
