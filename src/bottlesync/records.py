"""Dated run records (`runs/YYYY/MM/DD/<run_id>.json`): the audit trail export and status read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from bottlesync.storage import Storage

RECORD_KEY_RE = re.compile(
    r"runs/(\d{4})/(\d{2})/(\d{2})/(?P<run_id>[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})\.json")


def record_ids(storage: Storage, years: Iterable[int] | None = None) -> list[tuple[str, str]]:
    """(run_id, key) of every dated run record (of `years` only: `runs/<YYYY>/` skips every
    run's plan and fragments), oldest first (run ids sort by start time)."""
    prefixes = [f"runs/{year:04d}/" for year in years] if years is not None else ["runs/"]
    found = []
    for key in (key for prefix in prefixes for key in storage.list(prefix)):
        match = RECORD_KEY_RE.fullmatch(key)
        if match and key[5:15].replace("/", "") == match["run_id"][:8]:
            found.append((match["run_id"], key))
    return sorted(found)


def iter_records(storage: Storage, keys: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Each record as a dict; one that is not a JSON object is skipped (never trusted)."""
    for _run_id, key in keys:
        stored = storage.get(key)
        if stored is None:
            continue
        try:
            record = json.loads(stored.data)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            yield record


def day_of_run(run_id: str) -> str:
    """`YYYY-MM-DD` of a run id (its start day in UTC)."""
    return f"{run_id[0:4]}-{run_id[4:6]}-{run_id[6:8]}"
