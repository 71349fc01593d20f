"""A whole sync on one machine: the same stage functions the state machine calls, in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bottlesync.commit import RunReport, commit_run
from bottlesync.config import Settings
from bottlesync.freshness import Fetched, fetch_if_changed, save_state, state_after, unchanged_run
from bottlesync.mirror import Progress
from bottlesync.pipeline import Pipeline
from bottlesync.plan import Plan, build_plan, write_plan
from bottlesync.storage import Storage
from bottlesync.upstream import Upstream


def dry_run_report(plan: Plan) -> RunReport:
    """What a dry run prints: the plan, nothing mirrored."""
    return RunReport(run_id=plan.run_id, selected=plan.selected, present=plan.present,
                     mirrored=0, planned_bytes=plan.planned_bytes, bytes=0, route=plan.route,
                     failures=list(plan.invalid), seeded=plan.seeded, notes=list(plan.notes))


def run_sync(settings: Settings, *, storage: Storage, upstream: Upstream,
             dry_run: bool = False, progress: Progress | None = None,
             on_plan: Callable[[Plan], None] | None = None,
             clock: Callable[[], datetime] = lambda: datetime.now(UTC),
             s3_client: Any = None) -> RunReport:
    """Plan sync, Mirror bottles, Commit run; a dry run stops after planning and writes nothing.

    An http(s) catalogue is fetched conditionally (freshness.py): a 304 after a clean run ends
    the run there.
    """
    fetched = Fetched() if dry_run else fetch_if_changed(settings, storage, upstream)
    if fetched.unchanged is not None:
        return unchanged_run(storage, fetched.unchanged, clock())
    catalogue, validators = fetched.catalogue, fetched.validators
    if dry_run:
        plan = build_plan(replace(settings, api=False), upstream=upstream, storage=storage,
                          now=clock(), s3_client=s3_client, catalogue=catalogue)  # no API fetch
        if on_plan is not None:
            on_plan(plan)
        return dry_run_report(plan)
    with Pipeline(storage=storage, upstream=upstream, concurrency=settings.concurrency,
                  progress=progress, clock=clock) as pipeline:
        plan = build_plan(settings, upstream=upstream, storage=storage, now=clock(),
                          s3_client=s3_client, catalogue=catalogue, pool=pipeline.pool,
                          on_sized=pipeline.mirror)  # bottles start as their index answers
        if on_plan is not None:
            on_plan(plan)
        pipeline.planned()
        write_plan(storage, plan)
        pipeline.finish(plan)
    report = commit_run(storage, plan.run_id, now=clock(), public_url=settings.public_url)
    if validators is not None:
        save_state(storage, state_after(settings, validators, storage, report))
    return report
