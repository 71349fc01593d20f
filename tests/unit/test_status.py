"""status.json and index.html: built from the run records and the manifest, state by age."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bottlesync import status as status_module
from bottlesync.commit import record_key
from bottlesync.manifest import commit_entries, load_sizes
from bottlesync.status import TALLY_KEY, build_status, state_of, write_status
from bottlesync.status_page import client_settings, render_page
from bottlesync.storage import LocalStorage

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def record(storage: LocalStorage, hours_ago: float, failed: int = 0, mirrored: int = 2,
           **extra: Any) -> dict[str, Any]:
    """A run record finished `hours_ago`, lasting 90 seconds."""
    end = NOW - timedelta(hours=hours_ago)
    run_id = f"{end:%Y%m%dT%H%M%S}Z-{int(hours_ago * 100) % 16 ** 8:08x}"
    doc = {"run_id": run_id, "created_at": f"{end - timedelta(seconds=90):%Y-%m-%dT%H:%M:%SZ}",
           "finished_at": f"{end:%Y-%m-%dT%H:%M:%SZ}", "selected": 10, "present": 8,
           "mirrored": mirrored, "failed": failed, "bytes": 1000 * mirrored,
           "layout": "bottle-domain", **extra}
    storage.put_bytes(record_key(run_id), json.dumps(doc).encode())
    return doc


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    """Three bottles on two tags."""
    storage = LocalStorage(tmp_path)
    commit_entries(storage, {
        f: {"sha256": "a" * 64, "size": size, "key": f"bottles/{f}", "synced_at": "x",
            "run_id": "r"}
        for f, size in (("a-1.arm64_sequoia.bottle.tar.gz", 10),
                        ("b-1.arm64_sequoia.bottle.1.tar.gz", 20),
                        ("c-1.x86_64_linux.bottle.tar.gz", 5))}, now="x")
    return storage


def test_status_matches_the_run_records_and_the_manifest(store: LocalStorage) -> None:
    """GIVEN 33 runs, the newest failed THEN the last 30 are listed oldest first, the last run
    and the last good sync are the right ones, and per-tag counts and bytes add up."""
    docs = [record(store, hours_ago=h) for h in range(34, 1, -1)]
    docs.append(record(store, hours_ago=0.5, failed=1, mirrored=0))
    status = build_status(store, now=NOW, public_url="https://mirror.test")
    assert [r["run_id"] for r in status["runs"]] == [d["run_id"] for d in docs[-30:]]
    last = status["last_run"]
    assert (last["run_id"], last["result"], last["failed"], last["duration_seconds"]) == (
        docs[-1]["run_id"], "partial", 1, 90.0)
    assert status["last_good_sync"] == docs[-2]["finished_at"]
    assert status["state"] == "amber"  # a good sync 2 h ago, but the last run failed
    assert status["per_tag"] == {"arm64_sequoia": {"bottles": 2, "bytes": 30},
                                 "x86_64_linux": {"bottles": 1, "bytes": 5}}
    assert (status["bottles"], status["bytes"]) == (3, 35)
    assert status["catalogue"] == {"fetched_at": docs[-1]["created_at"], "age_hours": 0.53}


@pytest.mark.parametrize(("age", "result", "state"), [
    (1, "ok", "green"), (25.9, "ok", "green"), (26.1, "ok", "amber"), (2, "partial", "amber"),
    (71, "ok", "amber"), (73, "ok", "red"), (None, None, "red")])
def test_state_by_age_of_the_last_good_sync(age: float | None, result: str | None,
                                            state: str) -> None:
    """green within 26 h, amber up to 72 h or after a failed run, red after or never."""
    assert state_of(age, result) == state


def test_write_status_writes_both_files_and_a_fresh_mirror_is_red(store: LocalStorage,
                                                                  tmp_path: Path) -> None:
    """GIVEN no run yet THEN the page says Stale and never; both files land beside the base."""
    status = write_status(store, now=NOW)
    assert status is not None and status["state"] == "red"
    page = (tmp_path / "index.html").read_text()
    assert 'data-state="red"' in page and ">never</time>" in page
    assert "(page written 2026-11-28T12:00:00Z)" in page
    assert "Set <code>public_url</code> in config.yaml" in page  # and the placeholder address
    assert "HOMEBREW_BOTTLE_DOMAIN=https://mirror.example.internal/bottles" in page
    assert status["api_mirrored"] is False
    store.put_bytes("api/formula.jws.json", b"{}")
    assert build_status(store, now=NOW, public_url=None)["api_mirrored"] is True
    assert json.loads((tmp_path / "status.json").read_text()) == status


def test_page_escapes_what_records_say(store: LocalStorage) -> None:
    """GIVEN a record whose run id is markup THEN the page shows it as text."""
    record(store, hours_ago=1, run_id="<script>alert(1)</script>")
    page = render_page(build_status(store, now=NOW, public_url=None))
    assert "<script" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize(("layout", "api", "lines"), [
    ("bottle-domain", False, ["export HOMEBREW_BOTTLE_DOMAIN=https://m.test/x/bottles"]),
    ("artifact-domain", True, ["export HOMEBREW_API_DOMAIN=https://m.test/x/api",
                               "export HOMEBREW_ARTIFACT_DOMAIN=https://m.test/x"])])
def test_client_settings_follow_the_layout_and_the_api(layout: str, api: bool,
                                                       lines: list[str]) -> None:
    """The exact lines to copy, from public_url (trailing slash ignored)."""
    status = {"public_url": "https://m.test/x/", "layout": layout, "api_mirrored": api}
    assert client_settings(status) == lines


def test_per_tag_figures_are_tallied_again_only_when_the_manifest_changed(
        store: LocalStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a status already built WHEN built again with the manifest unchanged THEN the
    figures come from the tally kept beside the manifest's etag (the manifest is not decoded);
    WHEN a bottle lands THEN they are tallied again and include it."""
    first = build_status(store, now=NOW, public_url=None)
    decoded: list[object] = []
    real = load_sizes

    def counted(storage: LocalStorage) -> dict[str, Any]:
        decoded.append(storage)
        return real(storage)

    monkeypatch.setattr(status_module, "load_sizes", counted)
    assert build_status(store, now=NOW, public_url=None)["per_tag"] == first["per_tag"]
    assert decoded == []
    commit_entries(store, {"d-1.x86_64_linux.bottle.tar.gz": {
        "sha256": "b" * 64, "size": 7, "key": "bottles/d-1.x86_64_linux.bottle.tar.gz",
        "synced_at": "x", "run_id": "r"}}, now="y")
    again = build_status(store, now=NOW, public_url=None)
    assert decoded == [store]
    assert again["per_tag"]["x86_64_linux"] == {"bottles": 2, "bytes": 12}
    assert (again["bottles"], again["bytes"]) == (4, 42)


@pytest.mark.parametrize("tally", [b"not json", b'{"manifest_etag": 1}', b"[]",
                                   b'{"manifest_etag": "E", "per_tag": {"all": {"bottles": "9"}}}'])
def test_a_damaged_or_foreign_tally_is_recomputed(store: LocalStorage, tally: bytes) -> None:
    """GIVEN a tally that is not ours (damaged, or naming another etag) THEN the figures come
    from the manifest itself, and the tally is rewritten."""
    build_status(store, now=NOW, public_url=None)
    etag = json.loads((store.root / TALLY_KEY).read_bytes())["manifest_etag"]
    store.put_bytes(TALLY_KEY, tally.replace(b'"E"', json.dumps(etag).encode()))
    status = build_status(store, now=NOW, public_url=None)
    assert status["per_tag"] == {"arm64_sequoia": {"bottles": 2, "bytes": 30},
                                 "x86_64_linux": {"bottles": 1, "bytes": 5}}
    assert json.loads((store.root / TALLY_KEY).read_bytes())["per_tag"] == status["per_tag"]
