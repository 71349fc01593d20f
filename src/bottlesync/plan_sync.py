"""Plan sync as the state machine runs it: the catalogue fetched conditionally, then planned."""

from __future__ import annotations

from datetime import datetime

from bottlesync.config import Settings
from bottlesync.events import PlanSyncRequest
from bottlesync.freshness import (
    Fetched,
    fetch_if_changed,
    save_pending,
    unchanged_plan,
    unchanged_run,
)
from bottlesync.plan import Plan, build_plan, write_plan
from bottlesync.storage import Storage
from bottlesync.upstream import Upstream


def plan_sync(settings: Settings, request: PlanSyncRequest, *, storage: Storage,
              upstream: Upstream, now: datetime) -> tuple[Plan, Plan]:
    """The plan, and what was written for the Map (a dry run writes no items).

    A 304 after a clean run ends the execution at this state: its run record is written now,
    and no plan, so no Commit run rewrites the manifest or republishes anything.
    """
    fetched = Fetched() if request.dry_run else fetch_if_changed(settings, storage, upstream)
    if fetched.unchanged:
        plan = written = unchanged_plan(storage, fetched.unchanged, settings, now)
        unchanged_run(storage, fetched.unchanged, now, plan.run_id)
    else:
        plan = build_plan(settings, upstream=upstream, storage=storage, now=now,
                          catalogue=fetched.catalogue)
        written = request.to_write(plan)
        write_plan(storage, written)
    if fetched.validators is not None:  # Commit run makes them the state if the run is clean
        save_pending(storage, plan.run_id, settings, fetched.validators, plan.selected)
    return plan, written
