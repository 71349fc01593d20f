"""Verify: re-hash what the manifest lists; repair re-fetches missing or corrupt bottles."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bottlesync.bottle import Bottle, PlanItem
from bottlesync.catalog import load_catalog
from bottlesync.errors import ConfigError, Failure, StorageError
from bottlesync.manifest import MANIFEST_KEY, load_manifest
from bottlesync.mirror import mirror_all
from bottlesync.storage import Storage
from bottlesync.upstream import Upstream

OK, MISSING, CORRUPT = "ok", "missing", "corrupt"


@dataclass
class VerifyReport:
    """What verify found and what repair fixed."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[Failure] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when anything is wrong and was not repaired."""
        broken = set(self.missing) | set(self.corrupt)
        return 0 if broken <= set(self.repaired) else 1

    def to_json(self) -> dict[str, object]:
        """Machine-readable report."""
        return {"checked": self.checked, "missing": self.missing, "corrupt": self.corrupt,
                "repaired": self.repaired, "unrepaired": [f.to_dict() for f in self.unrepaired]}


def rehash(storage: Storage, key: str) -> str | None:
    """sha256 of the stored bytes, streamed; None when the object is absent."""
    digest = hashlib.sha256()
    try:
        for chunk in storage.iter_chunks(key):
            digest.update(chunk)
    except StorageError:
        if storage.stored_sha256(key) is None:
            return None
        raise
    return digest.hexdigest()


def check_mirror(storage: Storage, concurrency: int) -> VerifyReport:
    """Re-hash every manifest entry in parallel; no manifest at all is a usage error."""
    manifest, etag = load_manifest(storage)
    if etag is None:
        raise ConfigError(f"{storage.describe(MANIFEST_KEY)} does not exist: nothing to verify "
                          f"(is --dest right?)")
    report = VerifyReport(checked=len(manifest.bottles))

    def state(file: str) -> tuple[str, str]:
        entry = manifest.bottles[file]
        actual = rehash(storage, entry["key"])
        return file, OK if actual == entry["sha256"] else MISSING if actual is None else CORRUPT

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for file, verdict in pool.map(state, sorted(manifest.bottles)):
            if verdict == MISSING:
                report.missing.append(file)
            elif verdict == CORRUPT:
                report.corrupt.append(file)
    return report


def repair_mirror(storage: Storage, report: VerifyReport, *, source: str, upstream: Upstream,
                  concurrency: int) -> None:
    """Re-fetch each broken bottle from the catalogue entry with the manifest's sha256."""
    manifest, _ = load_manifest(storage)
    catalog = load_catalog(source, upstream)
    by_file: dict[str, Bottle] = {b.file: b for f in catalog.formulae.values() for b in f.bottles}
    items: list[PlanItem] = []
    for file in report.missing + report.corrupt:
        entry = manifest.bottles[file]
        bottle = by_file.get(file)
        if bottle is None or bottle.sha256 != entry["sha256"]:
            report.unrepaired.append(Failure(file, "NotInCatalogue",
                                             f"{file}: the catalogue {source} no longer has this "
                                             f"bottle with sha256 {entry['sha256']}"))
            continue
        items.append(PlanItem(bottle, entry["key"], entry.get("size")))
    results = mirror_all(items, storage=storage, upstream=upstream, concurrency=concurrency,
                         force=True)
    for result in results:
        if result.ok:
            report.repaired.append(result.file)
        else:
            report.unrepaired.append(result.failure())
