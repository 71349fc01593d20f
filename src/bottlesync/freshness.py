"""Conditional catalogue fetch: when nothing changed upstream or here, a run is one request.

The catalogue's validators (ETag, Last-Modified) and what the last run left are kept at
STATE_KEY under the destination (`runs/state/`, beside the run records; bottles and indexes
never live there, so a client of the mirror never asks for it). The next run sends
If-None-Match / If-Modified-Since; on 304, with the last run clean (no failure, manifest
unchanged since), it ends there: no download, no parse, only its small run record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from bottlesync.commit import RunReport, record_key
from bottlesync.config import Settings
from bottlesync.errors import (
    BottlesyncError,
    CatalogError,
    CatalogUnavailable,
    NotModified,
    TransientUpstreamError,
)
from bottlesync.manifest import MANIFEST_KEY
from bottlesync.plan import Plan, iso, new_run_id
from bottlesync.storage import Storage
from bottlesync.upstream import Upstream

STATE_KEY = "runs/state/catalogue.json"
CATALOGUE_LIMIT = 512 << 20
_HTTP = ("https://", "http://")


@dataclass(frozen=True)
class CatalogueState:
    """What the last run saw of the catalogue and left in the mirror."""

    source: str
    etag: str | None
    last_modified: str | None
    manifest_etag: str | None  # the manifest's etag right after that run
    clean: bool  # no failure and no invalid entry: nothing left to retry
    selected: int
    selection: str  # selection_of(settings) of that run

    def conditions(self) -> dict[str, str]:
        """The conditional request headers these validators allow."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


def load_state(storage: Storage) -> CatalogueState | None:
    """The last run's state, or None (absent or unreadable: then the run fetches in full)."""
    return _read_state(storage, STATE_KEY)


def _read_state(storage: Storage, key: str) -> CatalogueState | None:
    """A CatalogueState stored at `key`, or None when absent or unreadable."""
    stored = storage.get(key)
    if stored is None:
        return None
    try:
        doc = json.loads(stored.data)
        return CatalogueState(**{k: doc[k] for k in CatalogueState.__dataclass_fields__})
    except (ValueError, KeyError, TypeError):
        return None


def save_state(storage: Storage, state: CatalogueState) -> None:
    """Keep the validators and the run's outcome for the next run."""
    storage.put_bytes(STATE_KEY, json.dumps(asdict(state), indent=1).encode())


def skippable(state: CatalogueState | None, settings: Settings, storage: Storage) -> bool:
    """True when a 304 may end the run: same selection, last run clean, manifest unchanged."""
    if (state is None or state.selection != selection_of(settings) or not state.clean
            or not state.conditions()):
        return False
    stored = storage.get(MANIFEST_KEY)
    return (stored.etag if stored else None) == state.manifest_etag


def fetch_catalogue(source: str, upstream: Upstream, conditions: Mapping[str, str]
                    ) -> tuple[bytes, dict[str, Any]] | None:
    """The catalogue and its validators, or None when the upstream answers 304."""
    def call() -> tuple[bytes, dict[str, Any]]:
        with upstream.open(source, "catalogue", conditions=conditions) as response:
            data = upstream.read_all(response, "catalogue", source, CATALOGUE_LIMIT)
            return data, {"etag": response.headers.get("ETag"),
                          "last_modified": response.headers.get("Last-Modified")}
    try:
        result: tuple[bytes, dict[str, Any]] = upstream.with_retries(call, "catalogue")
    except NotModified:
        return None
    except TransientUpstreamError as exc:  # worded as catalog.read_source words them
        raise CatalogUnavailable(f"cannot fetch the {exc}") from None
    except BottlesyncError as exc:
        raise CatalogError(f"cannot fetch the {exc}") from None
    return result


@dataclass(frozen=True)
class Fetched:
    """What a conditional fetch found: the catalogue and its validators, or the state a 304
    lets the run end on (both None for a local source, which build_plan reads itself)."""

    catalogue: bytes | None = None
    validators: dict[str, Any] | None = None
    unchanged: CatalogueState | None = None


def fetch_if_changed(settings: Settings, storage: Storage, upstream: Upstream) -> Fetched:
    """Fetch an http(s) catalogue, conditionally when the last run allows a 304 to end this
    one; CatalogError when the upstream answers 304 to a request without conditions."""
    if not settings.source.startswith(_HTTP):
        return Fetched()
    state = load_state(storage)
    conditions = state.conditions() if state and skippable(state, settings, storage) else {}
    fetched = fetch_catalogue(settings.source, upstream, conditions)
    if fetched is None:
        if state is None or not conditions:
            raise CatalogError(f"the catalogue {settings.source} answered 304 to an "
                               "unconditional request")
        return Fetched(unchanged=state)
    return Fetched(*fetched)


def pending_key(run_id: str) -> str:
    """Where Plan sync leaves the validators until Commit run knows whether the run was clean."""
    return f"runs/{run_id}/catalogue.json"


def save_pending(storage: Storage, run_id: str, settings: Settings,
                 validators: Mapping[str, Any], selected: int) -> None:
    """Plan sync's half of the state (the Step Functions path): validators and selection."""
    state = CatalogueState(source=settings.source, etag=validators.get("etag"),
                           last_modified=validators.get("last_modified"), manifest_etag=None,
                           clean=False, selected=selected, selection=selection_of(settings))
    storage.put_bytes(pending_key(run_id), json.dumps(asdict(state), indent=1).encode())


def settle_pending(storage: Storage, run_id: str, report: RunReport) -> None:
    """Commit run's half: the run's outcome and the manifest it left become the next run's
    state (nothing pending, as after a 304 run or a local source: the state stays as it is)."""
    pending = _read_state(storage, pending_key(run_id))
    if pending is None:
        return
    stored = storage.get(MANIFEST_KEY)
    save_state(storage, replace(pending, clean=report.exit_code == 0,
                                manifest_etag=stored.etag if stored else None))


def selection_of(settings: Settings) -> str:
    """What decides the wanted bottles besides the catalogue: a change means a full run."""
    return json.dumps([settings.source, settings.dest, settings.layout, sorted(settings.tags),
                       sorted(settings.formulae), settings.skip_deprecated,
                       settings.skip_disabled, settings.seed_manifest])


def state_after(settings: Settings, validators: Mapping[str, Any], storage: Storage,
                report: RunReport) -> CatalogueState:
    """What this run leaves for the next one's conditional fetch."""
    stored = storage.get(MANIFEST_KEY)
    return CatalogueState(source=settings.source, etag=validators.get("etag"),
                          last_modified=validators.get("last_modified"),
                          manifest_etag=stored.etag if stored else None,
                          clean=report.exit_code == 0, selected=report.selected,
                          selection=selection_of(settings))


def unchanged_run(storage: Storage, state: CatalogueState, now: datetime,
                  run_id: str | None = None) -> RunReport:
    """A run that ended on 304: nothing to do; its small run record says so."""
    report = RunReport(run_id=run_id or new_run_id(now), selected=state.selected,
                       present=state.selected, mirrored=0, planned_bytes=0, bytes=0, route="none")
    record = {**report.to_json(), "source": state.source, "finished_at": iso(now),
              "catalogue": "not modified", "added": []}
    storage.put_bytes(record_key(report.run_id), json.dumps(record, indent=1).encode())
    return report


def unchanged_plan(storage: Storage, state: CatalogueState, settings: Settings, now: datetime
                   ) -> Plan:
    """Plan sync's plan for a run that ends on 304: nothing to fetch, the last run's counts
    (the state machine's "Route by size" then ends the execution: no commit, no notice)."""
    return Plan(run_id=new_run_id(now), created_at=iso(now), source=state.source,
                base=storage.base, layout=settings.layout, selected=state.selected,
                present=state.selected, items=[], threshold=settings.ecs_threshold,
                unchanged=True)
