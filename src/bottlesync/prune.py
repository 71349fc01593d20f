"""Prune: remove old bottles no catalogue entry, published API file or live OCI index names."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bottlesync.bottle import BREW_FILE_RE, image_name, version_rebuild
from bottlesync.catalog import Catalog, load_catalog
from bottlesync.config import Settings
from bottlesync.delta import API_KEY_RE, INDEX_KEY_RE
from bottlesync.errors import CatalogError, InvalidInput, PruneRefused
from bottlesync.manifest import Manifest, load_manifest, update_manifest
from bottlesync.plan import iso
from bottlesync.storage import Storage
from bottlesync.upstream import Upstream

_HEX_RE = re.compile(r"(?:sha256:)?([0-9a-f]{64})")
_NAME_RE = re.compile(r"(.+?)-[0-9]")


@dataclass(frozen=True)
class PruneRequest:
    """The policy of one prune: how many old versions to keep, how old, and whether to delete."""

    keep_versions: int = 0
    older_than_days: float = 30
    apply: bool = False

    @classmethod
    def from_event(cls, event: object, defaults: Mapping[str, str]) -> PruneRequest:
        """The scheduled event's keys over PRUNE_KEEP_VERSIONS / PRUNE_OLDER_THAN_DAYS."""
        data = event if isinstance(event, dict) else {}
        try:
            request = cls(
                keep_versions=int(data.get("keep_versions",
                                           defaults.get("PRUNE_KEEP_VERSIONS", 0))),
                older_than_days=float(data.get("older_than_days",
                                               defaults.get("PRUNE_OLDER_THAN_DAYS", 30))),
                apply=data.get("apply", False) is True)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"prune: keep_versions/older_than_days: {exc}") from None
        if request.keep_versions < 0 or request.older_than_days < 0:
            raise InvalidInput("prune: keep_versions and older_than_days must not be negative")
        return request


@dataclass
class PrunePlan:
    """What prune would delete, and what it kept and why (file -> reason)."""

    bottles: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> manifest entry
    indexes: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """Every key to delete: stale indexes first (never point brew at a missing bottle)."""
        return self.indexes + sorted(e["key"] for e in self.bottles.values())

    def to_json(self, applied: bool) -> dict[str, Any]:
        """The --json object."""
        return {"applied": applied, "delete": self.keys, "bottles": sorted(self.bottles),
                "kept": dict(sorted(self.kept.items()))}


def digests_in(data: bytes, where: str) -> set[str]:
    """Every sha256 a JSON document (or a JWS whose payload is JSON) names, whatever its shape."""
    try:
        doc = json.loads(data)
        if isinstance(doc, dict) and isinstance(doc.get("payload"), str):
            doc = json.loads(doc["payload"])
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise PruneRefused(f"{where}: unreadable, so prune cannot tell what it names: {exc}"
                           ) from None
    found: set[str] = set()
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and (match := _HEX_RE.fullmatch(item)):
            found.add(match.group(1))
    return found


def _read(storage: Storage, key: str) -> bytes:
    """A small published file; gone since listing counts as empty."""
    stored = storage.get(key)
    return stored.data if stored else b"null"


def _group(file: str, names: AbstractSet[str]) -> tuple[str, str]:
    """(formula, tag) of a bottle file: the longest catalogue name before a `-`, else a guess."""
    match = BREW_FILE_RE.search(file)
    tag = match.group(1) if match else ""
    cuts = [i for i, char in enumerate(file) if char == "-"]
    name = next((file[:i] for i in reversed(cuts) if file[:i] in names), None)
    guess = _NAME_RE.match(file)
    return name or (guess.group(1) if guess else file), tag


def _synced(entry: dict[str, Any]) -> datetime | None:
    """When a manifest entry landed (None when unknown: such a bottle is never old)."""
    try:
        return datetime.strptime(str(entry.get("synced_at")), "%Y-%m-%dT%H:%M:%SZ"
                                 ).replace(tzinfo=UTC)
    except ValueError:
        return None


def plan_prune(storage: Storage, catalog: Catalog, *, keep_versions: int, older_than_days: float,
               now: datetime) -> PrunePlan:
    """Decide, writing nothing; PruneRefused when the catalogue is empty."""
    if not catalog.formulae:
        raise PruneRefused(f"{catalog.source}: the catalogue has no formulae: refusing to prune")
    manifest, _ = load_manifest(storage)
    wanted = {b.file for f in catalog.formulae.values() for b in f.bottles}
    live = {(image_name(f.name), version_rebuild(f.pkgver, f.rebuild))
            for f in catalog.formulae.values()}
    keys = list(storage.list(""))
    protected: set[str] = set()
    for key in keys:
        if API_KEY_RE.fullmatch(key):
            protected |= digests_in(_read(storage, key), storage.describe(key))
    plan = PrunePlan()
    limit = now - timedelta(days=older_than_days)
    names = set(catalog.formulae)
    groups: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    for file, entry in manifest.bottles.items():
        synced = _synced(entry)
        if file in wanted:
            continue
        if entry["sha256"] in protected:
            plan.kept[file] = "named by the published API"
        elif synced is None or synced > limit:
            plan.kept[file] = f"synced less than {older_than_days:g} days ago"
        else:
            groups.setdefault(_group(file, names), []).append((synced, file))
    for members in groups.values():
        for rank, (_synced_at, file) in enumerate(sorted(members, reverse=True)):
            if rank < keep_versions:
                plan.kept[file] = f"one of the {keep_versions} newest old versions"
            else:
                plan.bottles[file] = manifest.bottles[file]
    _settle_indexes(storage, keys, live, manifest, plan)
    return plan


def _settle_indexes(storage: Storage, keys: list[str], live: set[tuple[str, str]],
                    manifest: Manifest, plan: PrunePlan) -> None:
    """Keep every bottle a kept index names; drop a stale index once all it names goes."""
    by_sha = {e["sha256"]: f for f, e in manifest.bottles.items()}
    indexes = {}  # key -> (the manifest bottles it names, is it a current version's index)
    for key in keys:
        match = INDEX_KEY_RE.fullmatch(key)
        if match:
            named = digests_in(_read(storage, key), storage.describe(key))
            indexes[key] = (named & by_sha.keys(), (match["image"], match["vr"]) in live)
    changed = True
    while changed:  # keeping a bottle can keep an index that keeps more bottles
        changed = False
        pruned = {e["sha256"] for e in plan.bottles.values()}
        for key, (held, is_live) in indexes.items():
            if held & pruned and (is_live or held - pruned):
                for sha in held & pruned:
                    plan.kept[by_sha[sha]] = f"named by the OCI index {key}"
                    plan.bottles.pop(by_sha[sha], None)
                pruned -= held
                changed = True
    plan.indexes = sorted(key for key, (held, is_live) in indexes.items()
                          if not is_live and held and held <= pruned)


def apply_prune(storage: Storage, plan: PrunePlan, *, now: datetime,
                sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Delete stale indexes, then the manifest entries by CAS, then the bottles; return keys."""
    for key in plan.indexes:
        storage.delete(key)

    def drop(manifest: Manifest) -> None:
        for file, entry in plan.bottles.items():
            if manifest.bottles.get(file) == entry:  # unchanged since planned: still ours to drop
                del manifest.bottles[file]

    if plan.bottles:
        update_manifest(storage, drop, now=iso(now), sleep=sleep)
    for entry in plan.bottles.values():
        storage.delete(entry["key"])
    return plan.keys


def run_prune(settings: Settings, request: PruneRequest, *, storage: Storage,
              upstream: Upstream, now: datetime) -> PrunePlan:
    """The whole prune (CLI and Lambda): read the catalogue, decide, and delete if asked."""
    try:
        catalog = load_catalog(settings.source, upstream)
    except CatalogError as exc:  # empty, unreadable or unreachable: nothing to judge by
        raise PruneRefused(f"{exc}: no formulae to judge by, refusing to prune") from None
    plan = plan_prune(storage, catalog, keep_versions=request.keep_versions,
                      older_than_days=request.older_than_days, now=now)
    if request.apply:
        apply_prune(storage, plan, now=now)
    return plan


def iter_lines(plan: PrunePlan, applied: bool) -> Iterator[str]:
    """The human report: one line per key."""
    verb = "deleted" if applied else "would delete"
    for key in plan.keys:
        yield f"{verb} {key}"
    yield f"{len(plan.bottles)} bottles, {len(plan.indexes)} indexes; {len(plan.kept)} old kept"
