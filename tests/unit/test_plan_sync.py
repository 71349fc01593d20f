"""plan_sync.py: Plan sync as the state machine runs it (conditional fetch, then the plan)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bottlesync.config import Settings
from bottlesync.events import PlanSyncRequest
from bottlesync.plan import plan_key, read_items
from bottlesync.plan_sync import plan_sync
from bottlesync.storage import LocalStorage
from bottlesync.upstream import Upstream
from tests.conftest import TEST_TAGS
from tests.fakes.homebrew import FakeHomebrew

NOW = datetime(2026, 12, 1, 3, tzinfo=UTC)


def test_a_dry_run_plans_in_full_but_writes_no_items(homebrew: FakeHomebrew,
                                                     tmp_path: Path) -> None:
    """GIVEN dry_run THEN the catalogue is fetched unconditionally, the plan counts every
    missing bottle, and the Map is handed an empty plan (nothing to fetch)."""
    storage = LocalStorage(tmp_path)
    settings = Settings(source=homebrew.source_url, dest=str(tmp_path), tags=TEST_TAGS, api=False)
    with Upstream(settings) as upstream:
        plan, written = plan_sync(settings, PlanSyncRequest(("wget",), True), storage=storage,
                                  upstream=upstream, now=NOW)
    assert plan.items and not written.items
    assert read_items(storage, plan.run_id) == [] and storage.get(plan_key(plan.run_id))


def test_a_real_run_writes_the_plan_it_returns(homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a first run THEN the plan written is the plan returned, item for item."""
    storage = LocalStorage(tmp_path)
    settings = Settings(source=homebrew.source_url, dest=str(tmp_path), tags=TEST_TAGS, api=False)
    with Upstream(settings) as upstream:
        plan, written = plan_sync(settings, PlanSyncRequest(), storage=storage,
                                  upstream=upstream, now=NOW)
    assert written is plan
    assert [i.key for i in read_items(storage, plan.run_id)] == [i.key for i in plan.items]
