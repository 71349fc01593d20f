"""A local sync overlaps Plan sync and Mirror bottles, and still leaves the staged run's plan."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bottlesync.config import Settings
from bottlesync.plan import build_plan, plan_key, summary_key
from bottlesync.storage import LocalStorage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from tests.conftest import TEST_TAGS, fast_settings
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

GUARD = 60.0  # seconds a held request waits before giving up: only a broken sync waits this long
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
FORMULAE = [FakeFormula(f"f{i}", "1.0", tags=TEST_TAGS) for i in range(6)]


class HeldIndex(FakeHomebrew):
    """Holds the OCI index of `held` until a bottle (necessarily another formula's) was served."""

    def __init__(self, formulae: list[FakeFormula], held: str) -> None:
        super().__init__(formulae)
        self.held = f"/{held}/manifests/"
        self.bottle_served = threading.Event()
        self.overlapped: bool | None = None

    def _handle(self, handler: Any) -> None:
        if self.held in handler.path:
            self.overlapped = self.bottle_served.wait(GUARD)
        super()._handle(handler)
        if handler.server.role == "blobs":
            self.bottle_served.set()


def settings_for(fake: FakeHomebrew, dest: Path, **overrides: Any) -> Settings:
    """The test settings, with a read timeout longer than the held request."""
    return fast_settings(fake.source_url, dest, read_timeout=GUARD * 2, **overrides)


def test_bottles_start_while_another_index_is_still_in_flight(tmp_path: Path) -> None:
    """GIVEN one formula's OCI index held open until a bottle was served WHEN a local sync
    runs THEN other formulae's bottles are fetched meanwhile, and the run still lands them all."""
    with HeldIndex(FORMULAE, held="f3") as fake:
        settings = settings_for(fake, tmp_path / "mirror")
        with Upstream(settings) as upstream:
            report = run_sync(settings, storage=LocalStorage(tmp_path / "mirror"),
                              upstream=upstream)
    assert fake.overlapped is True
    assert report.exit_code == 0 and report.mirrored == len(FORMULAE) * len(TEST_TAGS)


def test_the_overlapped_run_writes_the_staged_plan(tmp_path: Path) -> None:
    """GIVEN one formula too big for max_bottle_size WHEN a local sync runs THEN plan.json and
    summary.json hold what build_plan gives Plan sync (items in order, sized, the oversized
    bottle refused) and the refused bottle's bytes were never asked for."""
    formulae = [*FORMULAE, FakeFormula("huge", "2.0", tags=TEST_TAGS, payload_size=9000)]
    with FakeHomebrew(formulae) as fake:
        settings = settings_for(fake, tmp_path / "mirror", max_bottle_size=8000)
        with Upstream(settings) as upstream:
            staged = build_plan(settings, upstream=upstream, storage=LocalStorage(tmp_path / "x"),
                                now=NOW)
            report = run_sync(settings, storage=LocalStorage(tmp_path / "mirror"),
                              upstream=upstream)
        huge = {fake.sha256("huge", tag) for tag in TEST_TAGS}
        assert not [r for r in fake.requests if any(digest in r.path for digest in huge)
                    and "/blobs/" in r.path]
    written = json.loads((tmp_path / "mirror" / plan_key(report.run_id)).read_text())
    summary = json.loads((tmp_path / "mirror" / summary_key(report.run_id)).read_text())
    assert written == [item.to_dict() for item in staged.items]
    assert all(item["size"] for item in written)
    assert summary["invalid"] == [f.to_dict() for f in staged.invalid] != []
    assert {k: summary[k] for k in ("selected", "present", "planned", "planned_bytes", "route")} \
        == {k: staged.summary()[k] for k in ("selected", "present", "planned", "planned_bytes",
                                              "route")}
    assert report.exit_code == 1 and report.mirrored == len(FORMULAE) * len(TEST_TAGS)


def test_a_dry_run_fetches_no_bottle_and_writes_nothing(tmp_path: Path) -> None:
    """GIVEN a dry run WHEN it plans THEN indexes are fetched, no bottle, nothing written."""
    with FakeHomebrew(FORMULAE) as fake:
        settings = settings_for(fake, tmp_path / "mirror")
        with Upstream(settings) as upstream:
            report = run_sync(settings, storage=LocalStorage(tmp_path / "mirror"),
                              upstream=upstream, dry_run=True)
        assert fake.count("manifest") == len(FORMULAE)
        assert fake.count("blob") == fake.count("blob_host") == 0
    assert report.mirrored == 0 and report.planned_bytes > 0
    assert not (tmp_path / "mirror").exists()

