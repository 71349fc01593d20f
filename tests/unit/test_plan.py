"""Plan: wanted minus present (by sha256), sized from OCI indexes, routed; writes nothing."""

from __future__ import annotations

import gc
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bottlesync.bottle import RUN_ID_RE
from bottlesync.config import Settings
from bottlesync.errors import InvalidInput
from bottlesync.manifest import commit_entries
from bottlesync.plan import (
    Plan,
    build_plan,
    check_run_id,
    gc_paused,
    new_run_id,
    plan_key,
    read_items,
    route_for,
    summary_key,
    write_plan,
)
from bottlesync.storage import LocalStorage
from bottlesync.upstream import Upstream
from tests.conftest import TEST_TAGS
from tests.fakes.homebrew import FakeHomebrew
from tests.unit.conftest import StubServer, make_item, sha

NOW = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)
SELECTED = 13  # SMALL_CATALOGUE: 6 formulae x 2 test tags + ca-certificates' `all` bottle


def expected_files(homebrew: FakeHomebrew) -> set[str]:
    """Every bottle file of the fake that the test tags (plus `all`) select."""
    wanted = {*TEST_TAGS, "all"}
    return {homebrew.file_name(e["name"], tag) for e in homebrew.catalogue
            for tag in e["bottle"]["stable"]["files"] if tag in wanted}


def plan_for(settings: Settings, upstream: Upstream, store: LocalStorage, **kw: object) -> Plan:
    """build_plan at NOW."""
    return build_plan(settings, upstream=upstream, storage=store, now=NOW, **kw)  # type: ignore[arg-type]


def manifest_entry(file: str, digest: str) -> dict[str, object]:
    """A manifest entry for `file`."""
    return {"sha256": digest, "size": 1, "key": f"bottles/{file}", "synced_at": "t",
            "run_id": "r"}


def test_first_plan_wants_everything_with_sizes(homebrew: FakeHomebrew, settings: Settings,
                                                upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN an empty mirror THEN every selected bottle is planned with its index size."""
    plan = plan_for(settings, upstream, LocalStorage(tmp_path / "mirror"))
    assert (plan.selected, plan.present, len(plan.items)) == (SELECTED, 0, SELECTED)
    assert {i.bottle.file for i in plan.items} == expected_files(homebrew)
    for item in plan.items:
        assert item.size == homebrew.size(item.bottle.name, item.bottle.tag)
        assert item.key == f"bottles/{item.bottle.file}"
    assert plan.planned_bytes == sum(i.size or 0 for i in plan.items)
    assert plan.route == "lambda"
    assert homebrew.count("manifest") == 7  # one OCI index per formula, never one per bottle
    assert homebrew.count("blob") == 0
    assert not (tmp_path / "mirror").exists()  # planning writes nothing, not even the directory


def test_present_means_same_sha256(homebrew: FakeHomebrew, settings: Settings,
                                   upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN one listed bottle with its sha and one with an old sha THEN only the first counts."""
    store = LocalStorage(tmp_path / "mirror")
    good = homebrew.file_name("jq", "x86_64_linux")
    stale = homebrew.file_name("wget", "arm64_sequoia")
    commit_entries(store, {good: manifest_entry(good, homebrew.sha256("jq", "x86_64_linux")),
                           stale: manifest_entry(stale, sha("previous build"))}, now="t")
    plan = plan_for(settings, upstream, store)
    files = {i.bottle.file for i in plan.items}
    assert plan.present == 1
    assert good not in files
    assert stale in files


def test_unknown_sizes_when_the_index_is_missing(homebrew: FakeHomebrew, settings: Settings,
                                                 upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN OCI indexes that 404 THEN bottles are still planned, with size None."""
    homebrew.fault("status", match="/manifests/", code=404, times=-1)
    plan = plan_for(settings, upstream, LocalStorage(tmp_path / "m"))
    assert len(plan.items) == SELECTED
    assert {i.size for i in plan.items} == {None}
    assert plan.planned_bytes == 0
    assert plan.summary()["unknown_sizes"] == SELECTED


def test_one_missing_index_leaves_only_that_formula_unsized(
    homebrew: FakeHomebrew, settings: Settings, upstream: Upstream, tmp_path: Path
) -> None:
    """GIVEN jq's index fails THEN only jq's bottles lack a size."""
    homebrew.fault("status", match="/jq/manifests/", code=404, times=-1)
    plan = plan_for(settings, upstream, LocalStorage(tmp_path / "m"))
    unsized = {i.bottle.name for i in plan.items if i.size is None}
    assert unsized == {"jq"}


@pytest.mark.parametrize(("threshold", "route"), [(1, "ecs"), (1 << 40, "lambda")])
def test_route_follows_threshold(homebrew: FakeHomebrew, settings: Settings, upstream: Upstream,
                                 tmp_path: Path, threshold: int, route: str) -> None:
    """GIVEN the ecs threshold THEN a plan at or over it goes to ecs, under it to lambda."""
    plan = plan_for(replace(settings, ecs_threshold=threshold), upstream,
                    LocalStorage(tmp_path / "m"))
    assert plan.route == route
    assert plan.summary()["route"] == route


def test_route_for() -> None:
    """GIVEN counts THEN none when nothing, ecs at the threshold, lambda below."""
    assert route_for(0, 0, 10) == "none"
    assert route_for(3, 10, 10) == "ecs"
    assert route_for(3, 9, 10) == "lambda"
    assert route_for(3, 0, 0) == "ecs"


def test_seed_manifest_dedups(homebrew: FakeHomebrew, settings: Settings, upstream: Upstream,
                              tmp_path: Path, stub: StubServer) -> None:
    """GIVEN a seed listing two bottles (one with the right sha) THEN only that one is seeded
    (counted apart from present: the destination does not hold it)."""
    right = homebrew.file_name("libunistring", "arm64_sequoia")
    wrong = homebrew.file_name("libunistring", "x86_64_linux")
    url = stub.route("/seed.json", {right: homebrew.sha256("libunistring", "arm64_sequoia"),
                                    wrong: sha("nope")})
    plan = plan_for(replace(settings, seed_manifest=url), upstream, LocalStorage(tmp_path / "m"))
    assert (plan.present, plan.seeded) == (0, 1)
    assert plan.selected == plan.present + plan.seeded + len(plan.items)
    assert plan.summary()["seeded"] == 1
    assert wrong in {i.bottle.file for i in plan.items}
    assert right not in {i.bottle.file for i in plan.items}


def test_formula_selection_and_layouts(homebrew: FakeHomebrew, settings: Settings,
                                       upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN --formula libidn2 and the dated layout THEN libidn2 + libunistring, keyed by day."""
    dated = replace(settings, formulae=("libidn2",), layout="dated")
    plan = plan_for(dated, upstream, LocalStorage(tmp_path / "m"))
    assert {i.bottle.name for i in plan.items} == {"libidn2", "libunistring"}
    assert all(i.key == f"2026-11-28/{i.bottle.file}" for i in plan.items)
    artifact = plan_for(replace(dated, layout="artifact-domain"), upstream,
                        LocalStorage(tmp_path / "m"))
    assert all(i.key == f"v2/homebrew/core/{i.bottle.image}/blobs/sha256:{i.bottle.sha256}"
               for i in artifact.items)


def test_invalid_entries_travel_with_the_plan(homebrew: FakeHomebrew, settings: Settings,
                                              upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN one bad catalogue entry THEN the plan reports it and still plans the rest."""
    homebrew.catalogue.append({"name": "../evil", "versions": {"stable": "1"}, "revision": 0,
                               "bottle": {}})
    plan = plan_for(settings, upstream, LocalStorage(tmp_path / "m"))
    assert [f.bottle for f in plan.invalid] == ["../evil"]
    assert len(plan.items) == SELECTED
    assert plan.summary()["invalid"][0]["error"] == "InvalidEntry"


def test_write_plan_and_read_items_round_trip(homebrew: FakeHomebrew, settings: Settings,
                                              upstream: Upstream, tmp_path: Path) -> None:
    """GIVEN a plan WHEN written THEN plan.json is a JSON array that reads back equal."""
    store = LocalStorage(tmp_path / "m")
    plan = plan_for(settings, upstream, store, run_id="20261128T030000Z-0a1b2c3d")
    write_plan(store, plan)
    raw = json.loads((tmp_path / "m" / plan_key(plan.run_id)).read_bytes())
    assert isinstance(raw, list) and len(raw) == SELECTED
    assert read_items(store, plan.run_id) == plan.items
    summary = json.loads((tmp_path / "m" / summary_key(plan.run_id)).read_bytes())
    assert summary == plan.summary()
    assert summary["planned"] == SELECTED and summary["created_at"] == "2026-11-28T03:00:00Z"


def test_read_items_rejects_tampered_plans(tmp_path: Path) -> None:
    """GIVEN a hand-edited plan THEN InvalidInput names the file and the item index."""
    store = LocalStorage(tmp_path)
    run_id = "20261128T030000Z-0a1b2c3d"
    with pytest.raises(InvalidInput, match="does not exist"):
        read_items(store, run_id)
    store.put_bytes(plan_key(run_id), b"{oops")
    with pytest.raises(InvalidInput, match="is not JSON"):
        read_items(store, run_id)
    store.put_bytes(plan_key(run_id), b"{}")
    with pytest.raises(InvalidInput, match="not a JSON array"):
        read_items(store, run_id)
    good = make_item().to_dict()
    store.put_bytes(plan_key(run_id), json.dumps([good, {**good, "key": "../x"}]).encode())
    with pytest.raises(InvalidInput, match=re.escape("plan.json[1]: key '../x'")):
        read_items(store, run_id)


def test_run_ids() -> None:
    """GIVEN any timezone THEN the run id is the UTC time plus 8 random hex, unique."""
    tokyo = datetime(2026, 11, 28, 12, 0, 5, tzinfo=timezone(timedelta(hours=9)))
    run_id = new_run_id(tokyo)
    assert RUN_ID_RE.fullmatch(run_id)
    assert run_id.startswith("20261128T030005Z-")
    assert len({new_run_id(NOW) for _ in range(50)}) == 50
    assert check_run_id(run_id, "event") == run_id


@pytest.mark.parametrize("bad", ["../../etc", "", None, 5, "20261128T030005Z-XYZ12345",
                                 "20261128T030005Z-0a1b2c3d/..", "20261128-0a1b2c3d"])
def test_check_run_id_rejects(bad: object) -> None:
    """GIVEN a run id not of our form THEN InvalidInput names where it came from."""
    with pytest.raises(InvalidInput, match=r"^event: run_id"):
        check_run_id(bad, "event")


def test_what_survives_the_gc_pause_skips_the_first_young_pass() -> None:
    """GIVEN container objects made while the GC is held THEN on the way out they are moved
    straight to the oldest generation (without that, the first young collection walks them
    and they sit in the middle one), so no young pass walks the catalogue's records."""
    with gc_paused():
        kept = [[] for _ in range(2_000)]
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(o) in oldest for o in kept)
