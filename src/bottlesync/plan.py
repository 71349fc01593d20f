"""Plan sync: wanted bottles minus present ones, sized from OCI indexes, routed by total size."""

from __future__ import annotations

import gc
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bottlesync.api import ApiFiles, fetch_api, stash_prefix
from bottlesync.bottle import RUN_ID_RE, PlanItem, is_layout_key
from bottlesync.catalog import catalog_from, load_catalog
from bottlesync.config import Settings
from bottlesync.errors import Failure, InvalidInput
from bottlesync.manifest import load_present, load_seed
from bottlesync.present import diff
from bottlesync.selection import choose, tag_problem, unbottled
from bottlesync.sizing import sized_items
from bottlesync.storage import Storage
from bottlesync.upstream import Upstream

log = logging.getLogger(__name__)
ROUTES = ("none", "lambda", "ecs")


def new_run_id(now: datetime) -> str:
    """Sortable and unique: `<YYYYMMDDTHHMMSSZ>-<8 hex>`."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def check_run_id(run_id: object, where: str) -> str:
    """A run id from an event must have our form before it becomes part of a key."""
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        raise InvalidInput(f"{where}: run_id {run_id!r} is not <YYYYMMDDTHHMMSSZ>-<8 hex>")
    return run_id


def iso(now: datetime) -> str:
    """UTC timestamp as the manifest writes it."""
    return f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def plan_key(run_id: str) -> str:
    """The JSON array of plan items the Distributed Map reads."""
    return f"runs/{run_id}/plan.json"


def summary_key(run_id: str) -> str:
    """Counts, route and invalid entries of a run's plan."""
    return f"runs/{run_id}/summary.json"


def results_prefix(run_id: str) -> str:
    """Where each batch writes its result fragment."""
    return f"runs/{run_id}/results/"


def route_for(items: int, planned_bytes: int, threshold: int) -> str:
    """What the state machine's Choice does: none, lambda (< threshold) or ecs (>= threshold)."""
    if items == 0:
        return "none"
    return "ecs" if planned_bytes >= threshold else "lambda"


@dataclass
class Plan:
    """What one run will fetch, and why."""

    run_id: str
    created_at: str
    source: str
    base: str
    layout: str
    selected: int
    present: int
    items: list[PlanItem]
    invalid: list[Failure] = field(default_factory=list)
    seeded: int = 0  # wanted, absent here, listed with the same sha256 by the seed manifest
    notes: list[str] = field(default_factory=list)  # e.g. a named formula with no bottle for a tag
    threshold: int = 0
    indexes: dict[str, bytes] = field(default_factory=dict)  # "<image>/<vr>" -> raw OCI index
    api: ApiFiles | None = None  # verified API files for Commit run to publish (api: true)
    unchanged: bool = False  # the catalogue answered 304 after a clean run: nothing was parsed

    @property
    def planned_bytes(self) -> int:
        """Total size of the bottles to fetch (unknown sizes count 0)."""
        return sum(item.size or 0 for item in self.items)

    @property
    def route(self) -> str:
        """Where the state machine sends this plan."""
        return route_for(len(self.items), self.planned_bytes, self.threshold)

    def summary(self) -> dict[str, Any]:
        """Everything but the items: small enough for a state payload or a run record."""
        return {"run_id": self.run_id, "created_at": self.created_at, "source": self.source,
                "base": self.base, "layout": self.layout, "selected": self.selected,
                "present": self.present, "seeded": self.seeded, "planned": len(self.items),
                "copies": sum(1 for i in self.items if i.copy_from), "notes": self.notes,
                "planned_bytes": self.planned_bytes, "route": self.route,
                "threshold": self.threshold,
                "unknown_sizes": sum(1 for i in self.items if i.size is None),
                "invalid": [f.to_dict() for f in self.invalid],
                **({"api_missing": self.api.missing} if self.api is not None else {})}


def build_plan(settings: Settings, *, upstream: Upstream, storage: Storage, now: datetime,
               run_id: str | None = None, s3_client: Any = None,
               catalogue: bytes | None = None, pool: Executor | None = None,
               on_sized: Callable[[list[PlanItem]], None] | None = None) -> Plan:
    """Fetch and validate the catalogue, read the manifests, select, diff, size; writes nothing.

    `catalogue`: the source's bytes when the caller already fetched them (conditionally).
    `pool`, `on_sized`: see sizing.sized_items (a local sync overlaps sizing and mirroring).
    """
    with gc_paused():
        catalog = (load_catalog(settings.source, upstream) if catalogue is None
                   else catalog_from(catalogue, settings.source, settings.api_public_key))
        chosen, wanted_tags = choose(catalog, tags=settings.tags, formulae=settings.formulae,
                                     skip_deprecated=settings.skip_deprecated,
                                     skip_disabled=settings.skip_disabled,
                                     strict_tags=settings.strict_tags)
        present = load_present(storage)
        seed = (load_seed(settings.seed_manifest, upstream, s3_client)
                if settings.seed_manifest else {})
        wanted = diff(chosen, wanted_tags, present, settings.layout)
        missing = wanted.missing
        copies = {b.file: entry.key for b in missing if (entry := present.get(b.file)) is not None
                  and entry.sha256 == b.sha256 and is_layout_key(b, entry.key)}
        to_fetch = [b for b in missing if b.file in copies or seed.get(b.file) != b.sha256]
    api = fetch_api(settings, upstream, catalog, wanted.names) if settings.api else None
    day = f"{now.astimezone(UTC):%Y-%m-%d}"
    items, oversized, indexes = sized_items(to_fetch, copies, settings, day, upstream,
                                            pool=pool, on_sized=on_sized)
    return Plan(run_id=run_id or new_run_id(now), created_at=iso(now), source=settings.source,
                base=storage.base, layout=settings.layout, selected=wanted.selected,
                present=wanted.selected - len(missing), items=items,
                invalid=catalog.invalid + oversized, threshold=settings.ecs_threshold,
                indexes=indexes, api=api, seeded=len(missing) - len(to_fetch),
                notes=[*filter(None, [tag_problem(catalog, settings.tags)]),
                       *unbottled(catalog, settings.formulae, settings.tags)])


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic GC while parsing: its passes over a 30 MB catalogue double the cost.

    On the way out, what survived (the catalogue's acyclic records) moves straight to the
    oldest generation (freeze, unfreeze) rather than being walked by the first young pass.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def index_stash_key(run_id: str, image: str, version_rebuild: str) -> str:
    """Where Plan sync keeps an OCI index until Commit run publishes it."""
    return f"runs/{run_id}/indexes/{image}/{version_rebuild}.json"


def write_plan(storage: Storage, plan: Plan, concurrency: int = 8) -> None:
    """The OCI indexes (for Commit run to publish), the items (for the Map's ItemReader), and
    the summary (for Commit run), in parallel where there are many small objects."""
    objects = {index_stash_key(plan.run_id, *name.rsplit("/", 1)): raw
               for name, raw in plan.indexes.items()}
    if plan.api is not None:
        objects.update({stash_prefix(plan.run_id) + path: data
                        for path, data in plan.api.files.items()})
    put_all(storage, objects, concurrency)
    items = [item.to_dict() for item in plan.items]
    storage.put_bytes(plan_key(plan.run_id), json.dumps(items, separators=(",", ":")).encode())
    storage.put_bytes(summary_key(plan.run_id), json.dumps(plan.summary(), indent=1).encode())


def put_all(storage: Storage, objects: dict[str, bytes], concurrency: int) -> None:
    """Write many small objects on a bounded pool (thousands of indexes on a first sync)."""
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(lambda key: storage.put_bytes(key, objects[key]), objects))


def read_json(storage: Storage, key: str) -> Any:
    """A JSON object we wrote earlier in this run; InvalidInput names the key when it is bad."""
    stored = storage.get(key)
    if stored is None:
        raise InvalidInput(f"{storage.describe(key)} does not exist")
    try:
        return json.loads(stored.data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{storage.describe(key)} is not JSON: {exc}") from None


def read_items(storage: Storage, run_id: str) -> list[PlanItem]:
    """The plan's items, each re-validated (the file may have been edited by hand)."""
    key = plan_key(run_id)
    data = read_json(storage, key)
    if not isinstance(data, list):
        raise InvalidInput(f"{storage.describe(key)} is not a JSON array of plan items")
    return [PlanItem.from_dict(d, f"{storage.describe(key)}[{i}]") for i, d in enumerate(data)]
