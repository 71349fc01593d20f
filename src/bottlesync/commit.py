"""Commit run: merge result fragments into the manifest (CAS) and write the dated run record."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bottlesync.api import publish_api
from bottlesync.bottle import PlanItem, day_of, index_key
from bottlesync.cost import estimate
from bottlesync.errors import Failure, InvalidInput
from bottlesync.manifest import MANIFEST_KEY, commit_entries
from bottlesync.mirror import ADOPTED, COPIED, MIRRORED, BottleResult
from bottlesync.plan import (
    check_run_id,
    index_stash_key,
    iso,
    read_items,
    read_json,
    results_prefix,
    summary_key,
)
from bottlesync.status import write_status
from bottlesync.storage import Storage
from bottlesync.verdict import Verdict, judge


@dataclass
class RunReport:
    """The outcome of a run: the CLI's --json object, the run record, the notification."""

    run_id: str
    selected: int
    present: int
    mirrored: int
    planned_bytes: int
    bytes: int
    route: str
    failures: list[Failure] = field(default_factory=list)
    verdict: Verdict | None = None  # set by commit_run: what "Check results" decides
    estimated_cost_usd: float = 0.0  # bottlesync.cost's model of this run on AWS
    seeded: int = 0
    notes: list[str] = field(default_factory=list)
    landed: int = 0  # mirrored, adopted or copied now: what "nothing landed" pages on

    @property
    def failed(self) -> int:
        """Failed bottles plus invalid catalogue entries."""
        return len(self.failures)

    @property
    def exit_code(self) -> int:
        """0 when everything selected is present and verified, 1 otherwise."""
        return 0 if not self.failures else 1

    def to_json(self) -> dict[str, Any]:
        """Exactly the CLI contract (DESIGN §6)."""
        return {"run_id": self.run_id, "selected": self.selected, "present": self.present,
                "seeded": self.seeded, "mirrored": self.mirrored, "failed": self.failed,
                "planned_bytes": self.planned_bytes, "bytes": self.bytes, "route": self.route,
                "failures": [f.to_dict() for f in self.failures]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunReport:
        """Back from a run record or an event."""
        return cls(run_id=data["run_id"], selected=data["selected"], present=data["present"],
                   mirrored=data["mirrored"], planned_bytes=data["planned_bytes"],
                   bytes=data["bytes"], route=data["route"],
                   failures=[Failure.from_dict(f) for f in data.get("failures", [])],
                   seeded=data.get("seeded", 0), notes=data.get("notes", []))


def landed_notes(statuses: list[str]) -> list[str]:
    """Bottles that landed without a download are said so: they count as present."""
    notes = []
    if statuses.count(COPIED):
        notes.append(f"{statuses.count(COPIED)} bottles copied from another layout's keys "
                     f"within the destination (nothing downloaded; counted present)")
    if statuses.count(ADOPTED):
        notes.append(f"{statuses.count(ADOPTED)} bottles found already verified under their keys "
                     f"(adopted; counted present)")
    return notes


def record_key(run_id: str) -> str:
    """runs/YYYY/MM/DD/<run_id>.json, dated by the run's start so a replay rewrites the same one."""
    return f"runs/{run_id[0:4]}/{run_id[4:6]}/{run_id[6:8]}/{run_id}.json"


def collect_results(storage: Storage, run_id: str) -> dict[str, BottleResult]:
    """file -> result over every fragment of the run; a success beats a failure (replays)."""
    results: dict[str, BottleResult] = {}
    for key in storage.list(results_prefix(run_id)):
        fragment = read_json(storage, key)
        if not isinstance(fragment, dict) or not isinstance(fragment.get("results"), list):
            raise InvalidInput(f"{storage.describe(key)} is not a result fragment")
        for data in fragment["results"]:
            result = BottleResult.from_dict(data)
            previous = results.get(result.file)
            if previous is None or not previous.ok:
                results[result.file] = result
    return results


def commit_run(storage: Storage, run_id: str, *, now: datetime | None = None,
               sleep: Callable[[float], None] | None = None, max_failure_rate: float = 5.0,
               task_error: Mapping[str, Any] | None = None,
               public_url: str | None = None) -> RunReport:
    """Merge what landed into bottles_hash.json and write the run record; idempotent on replay.

    The record says whether the run failed (a failed task, a crashed batch, too many failures).
    """
    check_run_id(run_id, "commit")
    when = (now or datetime.now(UTC)).astimezone(UTC)
    summary = read_json(storage, summary_key(run_id))
    items = read_items(storage, run_id)
    results = collect_results(storage, run_id)
    entries: dict[str, dict[str, Any]] = {}
    failures = [Failure.from_dict(f) for f in summary.get("invalid", [])]
    for item in items:
        result = results.get(item.bottle.file)
        if result is not None and result.ok and result.sha256 == item.bottle.sha256:
            entries[result.file] = {"sha256": result.sha256, "size": result.size or item.size,
                                    "key": item.key, "synced_at": result.synced_at or iso(when),
                                    "run_id": run_id}
        elif result is not None and result.ok:  # landed, but not the bytes this plan wanted
            failures.append(Failure(item.bottle.file, "DigestMismatch",
                                    f"{item.bottle.file}: result sha256 {result.sha256} is not "
                                    f"the plan's {item.bottle.sha256}"))
        elif result is not None:
            failures.append(result.failure())
        else:
            failures.append(Failure(item.bottle.file, "NoResult",
                                    f"{item.bottle.file}: no worker reported a result"))
    if entries or storage.etag(MANIFEST_KEY) is None:  # a seeded-only run too
        commit_entries(storage, entries, now=iso(when), sleep=sleep or time.sleep)
    published = publish_indexes(storage, run_id, items, set(entries), summary["layout"])
    api = publish_api(storage, run_id, items, set(entries), failures)
    landed = [results[file].status for file in entries]
    report = RunReport(run_id=run_id, selected=summary["selected"],
                       present=summary["present"] + landed.count(ADOPTED) + landed.count(COPIED),
                       mirrored=landed.count(MIRRORED), planned_bytes=summary["planned_bytes"],
                       bytes=sum(r.downloaded for r in results.values() if r.ok),
                       route=summary["route"], failures=failures,
                       seeded=summary.get("seeded", 0),
                       notes=summary.get("notes", []) + landed_notes(landed),
                       landed=len(landed))
    report.verdict = judge(failures, len(items), len(entries), max_failure_rate, task_error)
    report.estimated_cost_usd = round(estimate([i.size or 0 for i in items],
                                               summary["route"]).total, 6)
    record = {**summary, **report.to_json(), **report.verdict.to_json(),
              "estimated_cost_usd": report.estimated_cost_usd, "finished_at": iso(when),
              "added": sorted(entries), "planned_items": [i.bottle.file for i in items],
              "adopted": landed.count(ADOPTED), "copied": landed.count(COPIED),
              "indexes_published": published, "api_published": api["published"],
              "api_held": api["held"]}
    storage.put_bytes(record_key(run_id), json.dumps(record, indent=1).encode())
    write_status(storage, now=when, public_url=public_url)
    return report


def publish_indexes(storage: Storage, run_id: str, items: list[PlanItem], landed: set[str],
                    layout: str, concurrency: int = 8) -> list[str]:
    """Serve each formula version's OCI index once every bottle this run planned for it landed.

    brew asks the mirror for the index before the bottle; publishing it before the bottles it
    names would send clients to a bottle that is not there yet.
    """
    groups: dict[tuple[str, str], list[PlanItem]] = {}
    for item in items:
        groups.setdefault((item.bottle.image, item.bottle.version_rebuild), []).append(item)
    complete = [group for group in groups.values()
                if all(item.bottle.file in landed for item in group)]

    def publish(group: list[PlanItem]) -> str | None:
        first = group[0]
        stashed = storage.get(index_stash_key(run_id, first.bottle.image,
                                              first.bottle.version_rebuild))
        if stashed is None:  # the index could not be fetched at plan time
            return None
        key = index_key(first.bottle, layout, day_of(first.key))
        storage.put_bytes(key, stashed.data)
        return key

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sorted(key for key in pool.map(publish, complete) if key)
