"""Conditional catalogue fetch: a 304 after a clean run ends the run after one request."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from bottlesync.config import Settings
from bottlesync.freshness import STATE_KEY, load_state
from bottlesync.manifest import MANIFEST_KEY
from bottlesync.storage import LocalStorage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from tests.fakes.homebrew import CATALOGUE_PATH, ConditionalHomebrew, FakeFormula, FakeHomebrew

TAGS = ("arm64_sequoia",)


def sync(fake: FakeHomebrew, dest: Path, **changes: Any) -> Any:
    """One whole sync of the fake into `dest`."""
    settings = replace(Settings(source=fake.source_url, dest=str(dest), tags=TAGS, attempts=2,
                                backoff_base=0.0), **changes)
    with Upstream(settings) as upstream:
        return run_sync(settings, storage=LocalStorage(dest), upstream=upstream)


def requests_of(fake: FakeHomebrew) -> list[tuple[str, str | None]]:
    """(path, If-None-Match) of every request so far."""
    return [(r.path, r.headers.get("If-None-Match")) for r in fake.requests]


def test_an_unchanged_catalogue_after_a_clean_run_ends_the_run_after_one_request(
        tmp_path: Path) -> None:
    """GIVEN a clean first sync WHEN synced again and the upstream answers 304 THEN that one
    conditional request is all the run sends, the manifest is untouched, and a run record
    says the catalogue was not modified."""
    with ConditionalHomebrew([FakeFormula("wget", "1.0"), FakeFormula("jq", "1.7")]) as fake:
        first = sync(fake, tmp_path / "m")
        assert (first.exit_code, first.mirrored) == (0, 2)
        state = load_state(LocalStorage(tmp_path / "m"))
        assert state is not None and state.etag and state.clean
        manifest = (tmp_path / "m" / MANIFEST_KEY).stat().st_mtime_ns
        before = len(fake.requests)
        second = sync(fake, tmp_path / "m")
        sent = requests_of(fake)[before:]
    assert sent == [(CATALOGUE_PATH, state.etag)]
    assert fake.requests[-1].status == 304
    assert (second.exit_code, second.selected, second.present, second.mirrored,
            second.route) == (0, 2, 2, 0, "none")
    assert (tmp_path / "m" / MANIFEST_KEY).stat().st_mtime_ns == manifest
    record = json.loads(next((tmp_path / "m" / "runs").glob(f"*/*/*/{second.run_id}.json"))
                        .read_text())
    assert record["catalogue"] == "not modified" and record["mirrored"] == 0


def test_a_changed_catalogue_is_fetched_in_full_and_mirrored(tmp_path: Path) -> None:
    """GIVEN a clean first sync WHEN a formula gets a new version THEN the next run gets a 200
    (its ETag no longer matches) and mirrors the new bottle."""
    with ConditionalHomebrew([FakeFormula("wget", "1.0")]) as fake:
        sync(fake, tmp_path / "m")
        fake.set_formula(FakeFormula("wget", "1.1"))
        second = sync(fake, tmp_path / "m")
    assert (second.exit_code, second.mirrored) == (0, 1)


def test_no_condition_is_sent_after_a_failed_run_or_a_changed_selection(tmp_path: Path) -> None:
    """GIVEN a last run with a failure, or other tags than last time WHEN synced THEN the
    catalogue is fetched without If-None-Match (a 304 must not hide work left to do)."""
    with ConditionalHomebrew([FakeFormula("wget", "1.0")]) as fake:
        sync(fake, tmp_path / "m")
        before = len(fake.requests)
        sync(fake, tmp_path / "m", tags=("arm64_sequoia", "x86_64_linux"))
        assert requests_of(fake)[before] == (CATALOGUE_PATH, None)
        storage = LocalStorage(tmp_path / "m")
        state = json.loads(storage.get(STATE_KEY).data)  # type: ignore[union-attr]
        storage.put_bytes(STATE_KEY, json.dumps({**state, "clean": False}).encode())
        before = len(fake.requests)
        sync(fake, tmp_path / "m", tags=("arm64_sequoia", "x86_64_linux"))
        assert requests_of(fake)[before] == (CATALOGUE_PATH, None)
