"""Homebrew's JSON API under `api/`: fetched and verified by Plan sync, published by Commit run."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from bottlesync.bottle import PlanItem
from bottlesync.catalog import Catalog
from bottlesync.config import Settings
from bottlesync.errors import CatalogError, Failure, UpstreamError
from bottlesync.jws import is_signed, load_public_key, verified_payload
from bottlesync.storage import Storage
from bottlesync.upstream import Upstream

log = logging.getLogger(__name__)
TOP_LEVEL = ("formula.jws.json", "formula_tap_migrations.jws.json", "cask.jws.json",
             "cask_tap_migrations.jws.json")
PUBLIC_PREFIX = "api/"
FILE_LIMIT = 256 << 20  # formula.jws.json is ~30 MB; anything far larger is hostile
FORMULA_LIMIT = 8 << 20  # one formula/<name>.json is a few KiB


@dataclass
class ApiFiles:
    """The API files of one run (path under api/ -> bytes as fetched) and those upstream lacks."""

    files: dict[str, bytes] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def api_paths(tags: Iterable[str], names: Iterable[str]) -> list[str]:
    """Every file a brew 5 or 6 client may ask for: top level, per tag, per formula."""
    return [*TOP_LEVEL, *(f"internal/packages.{tag}.jws.json" for tag in tags),
            *(f"formula/{name}.json" for name in sorted(set(names)))]


def api_base(source: str) -> str:
    """The `…/api/` directory the catalogue came from (URL or local path), with its slash."""
    if source.startswith(("https://", "http://")):
        parts = urlsplit(source)
        return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/"
    return str(Path(source.removeprefix("file://")).parent) + "/"


def _read(base: str, path: str, upstream: Upstream) -> bytes | None:
    """One API file as it is; None when the upstream has no such file (HTTP 404, no file)."""
    limit = FORMULA_LIMIT if path.startswith("formula/") else FILE_LIMIT
    if not base.startswith(("https://", "http://")):
        try:
            data = Path(base + path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CatalogError(f"API file {base}{path}: {exc.strerror or exc}") from None
        if len(data) > limit:
            raise CatalogError(f"API file {base}{path} is larger than {limit} bytes")
        return data
    try:
        return upstream.get_bytes(base + quote(path, safe="/@+"), f"API file {path}", limit=limit)
    except UpstreamError as exc:
        if is_not_found(str(exc)):
            return None
        raise


def is_not_found(message: str) -> bool:
    """Upstream's own 404, as Upstream words it (`<what>: <url>: HTTP 404`)."""
    return message.rstrip().endswith(": HTTP 404")


def fetch_api(settings: Settings, upstream: Upstream, catalog: Catalog,
              names: Iterable[str]) -> ApiFiles:
    """Fetch every API file and verify each `.jws.json`; ApiVerificationError is fatal.

    The signed catalogue itself is reused, not fetched twice. A file upstream lacks is
    reported and left out; without formula.jws.json there is no API to mirror at all.
    """
    base = api_base(settings.source)
    key = cache(lambda: load_public_key(settings.api_public_key))  # loaded for a first file

    def one(path: str) -> tuple[str, bytes | None]:
        reused = path == TOP_LEVEL[0] and catalog.signed is not None
        data = catalog.signed if reused else _read(base, path, upstream)
        if data is not None and is_signed(path) and not reused:
            verified_payload(data, f"{base}{path}", key())
        return path, data

    first = one(TOP_LEVEL[0])
    if first[1] is None:  # a private catalogue without an API beside it: nothing to mirror
        log.info("no API at %s (formula.jws.json: HTTP 404): API not mirrored", base)
        return ApiFiles(missing=[f"{TOP_LEVEL[0]}: HTTP 404 (no API beside the catalogue)"])
    api = ApiFiles()
    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
        for path, data in [first, *pool.map(one, api_paths(settings.tags, names)[1:])]:
            if data is None:
                api.missing.append(f"{path}: HTTP 404")
                log.warning("API file %s%s is not upstream (404): not mirrored", base, path)
            else:
                api.files[path] = data
    return api


def stash_prefix(run_id: str) -> str:
    """Where Plan sync keeps the verified API files until Commit run publishes them."""
    return f"runs/{run_id}/api/"


def held_back(items: list[PlanItem], landed: set[str], failures: list[Failure]) -> list[str]:
    """Planned bottles that are not present, except those the upstream itself answers 404 for."""
    gone = {f.bottle for f in failures if f.error == "UpstreamError" and is_not_found(f.message)}
    return sorted(i.bottle.file for i in items
                  if i.bottle.file not in landed and i.bottle.file not in gone)


def publish_api(storage: Storage, run_id: str, items: list[PlanItem], landed: set[str],
                failures: list[Failure], concurrency: int = 8) -> dict[str, object]:
    """Publish the run's stashed API files under `api/` once every selected bottle is present.

    brew trusts the API to name bottles the mirror has, so a run with a missing bottle keeps
    the previous API files (and its stash, so a replay reaches the same verdict). Only files
    whose bytes differ from the published ones are written (no rewrite, no noncurrent version
    for the thousands that did not change); per-formula files go first, the top-level files
    last. The stash is deleted once published, so a replay publishes nothing.
    """
    prefix = stash_prefix(run_id)
    paths = sorted(key[len(prefix):] for key in storage.list(prefix))
    if not paths:
        return {"published": 0, "held": None}
    lacking = held_back(items, landed, failures)
    if lacking:
        reason = (f"{len(lacking)} selected bottle(s) not present (first: {lacking[0]}): "
                  f"the previous API files stay")
        log.warning("API not published: %s", reason)
        return {"published": 0, "held": reason}
    waves: dict[int, list[str]] = {}
    for path in paths:
        rank = 0 if path.startswith("formula/") else 1 if path.startswith("internal/") else 2
        waves.setdefault(rank, []).append(path)

    def copy(path: str) -> bool:
        """Publish one file unless the public copy already has its bytes; True when written."""
        stashed = storage.stored_sha256(prefix + path)
        if stashed is not None and storage.stored_sha256(PUBLIC_PREFIX + path) == stashed:
            return False
        stored = storage.get(prefix + path)
        if stored is None:
            return False
        storage.put_bytes(PUBLIC_PREFIX + path, stored.data)
        return True

    written = 0
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for wave in sorted(waves):
            written += sum(pool.map(copy, waves[wave]))
        list(pool.map(storage.delete, [prefix + path for path in paths]))
    log.info("API: %d file(s) published, %d unchanged", written, len(paths) - written)
    return {"published": written, "held": None}
