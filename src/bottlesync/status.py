"""status.json: the mirror's state for people and monitors, rebuilt after every run."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from bottlesync.bottle import BREW_FILE_RE
from bottlesync.errors import BottlesyncError
from bottlesync.manifest import MANIFEST_KEY, load_sizes
from bottlesync.records import iter_records, record_ids
from bottlesync.status_page import render_page
from bottlesync.storage import Storage

log = logging.getLogger(__name__)
STATUS_KEY, PAGE_KEY = "status.json", "index.html"
TALLY_KEY = "runs/state/per-tag.json"  # per_tag's figures and the manifest etag they are of
HISTORY = 30
GREEN_HOURS, AMBER_HOURS = 26, 72  # a daily schedule plus slack; three missed days is red


def _time(text: object) -> datetime | None:
    """A record's `YYYY-MM-DDTHH:MM:SSZ`, or None."""
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _run(record: dict[str, Any]) -> dict[str, Any]:
    """One history row: time, result, counts, bytes, duration."""
    started, finished = _time(record.get("created_at")), _time(record.get("finished_at"))
    failed = int(record.get("failed") or 0)
    return {"run_id": record.get("run_id"), "finished_at": record.get("finished_at"),
            "kind": record.get("kind", "sync"), "result": "ok" if failed == 0 else "partial",
            "selected": record.get("selected"), "present": record.get("present"),
            "mirrored": record.get("mirrored"), "failed": failed, "bytes": record.get("bytes"),
            "duration_seconds": (finished - started).total_seconds()
            if started and finished else None}


def state_of(last_good_age_hours: float | None, last_result: str | None) -> str:
    """green: a good sync within a day; amber: late or the last run failed; red: none for days."""
    if last_good_age_hours is None or last_good_age_hours > AMBER_HOURS:
        return "red"
    if last_good_age_hours > GREEN_HOURS or last_result != "ok":
        return "amber"
    return "green"


def build_status(storage: Storage, *, now: datetime, public_url: str | None) -> dict[str, Any]:
    """Everything the page shows, from the run records and the manifest."""
    recent = record_ids(storage, years=(now.year - 1, now.year))
    records = list(iter_records(storage, recent[-HISTORY:]))
    runs = [_run(r) for r in records]
    last = runs[-1] if runs else None
    good = [r for r in runs if r["result"] == "ok" and _time(r["finished_at"])]
    good_at = _time(good[-1]["finished_at"]) if good else None
    age = (now - good_at).total_seconds() / 3600 if good_at else None
    tags = per_tag(storage)
    syncs = [r for r in records if r.get("kind", "sync") == "sync"]
    fetched = _time(syncs[-1].get("created_at")) if syncs else None  # the plan read upstream
    layout = next((r["layout"] for r in reversed(records) if r.get("layout")), "bottle-domain")
    return {"schema": 1, "generated_at": f"{now:%Y-%m-%dT%H:%M:%SZ}",
            "state": state_of(age, last["result"] if last else None),
            "last_run": last, "last_good_sync": good[-1]["finished_at"] if good else None,
            "last_good_age_hours": round(age, 2) if age is not None else None,
            "bottles": sum(row["bottles"] for row in tags.values()),
            "bytes": sum(row["bytes"] for row in tags.values()),
            "per_tag": dict(sorted(tags.items())), "runs": runs,
            "catalogue": {"fetched_at": f"{fetched:%Y-%m-%dT%H:%M:%SZ}" if fetched else None,
                          "age_hours": round((now - fetched).total_seconds() / 3600, 2)
                          if fetched else None},
            "layout": layout, "public_url": public_url,
            "api_mirrored": next(iter(storage.list("api/")), None) is not None}


def per_tag(storage: Storage) -> dict[str, dict[str, int]]:
    """Bottles and bytes per tag, tallied again only when the manifest changed (its etag):
    a no-op run must not decode a 13 MB manifest just to print the same figures."""
    etag = storage.etag(MANIFEST_KEY)
    cached = storage.get(TALLY_KEY)
    if cached is not None:
        try:
            tally = json.loads(cached.data)
            if tally["manifest_etag"] == etag and _is_tally(tally["per_tag"]):
                return dict(tally["per_tag"])
        except (ValueError, TypeError, KeyError, RecursionError):
            pass  # a damaged cache is recomputed and rewritten
    tags: dict[str, dict[str, int]] = {}
    for file, size in load_sizes(storage).items():
        match = BREW_FILE_RE.search(file)
        row = tags.setdefault(match.group(1) if match else "unknown", {"bottles": 0, "bytes": 0})
        row["bottles"] += 1
        row["bytes"] += int(size or 0)
    storage.put_bytes(TALLY_KEY, json.dumps({"manifest_etag": etag, "per_tag": tags}).encode())
    return tags


def _is_tally(value: object) -> bool:
    """tag -> {"bottles": int, "bytes": int}, as per_tag writes it."""
    return isinstance(value, dict) and all(
        isinstance(row, dict) and set(row) == {"bottles", "bytes"}
        and all(type(n) is int for n in row.values()) for row in value.values())


def write_status(storage: Storage, *, now: datetime | None = None,
                 public_url: str | None = None) -> dict[str, Any] | None:
    """Write status.json and index.html; a failure is logged, never fails the committed run."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        status = build_status(storage, now=when, public_url=public_url)
        storage.put_bytes(STATUS_KEY, json.dumps(status, indent=1).encode(), "application/json")
        storage.put_bytes(PAGE_KEY, render_page(status).encode(), "text/html; charset=utf-8")
    except BottlesyncError as exc:
        log.warning("status page not written: %s", exc)
        return None
    return status
