"""functions/plan_sync: events/plan_sync.json in, the plan in S3, the contract's counts out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bottlesync.errors import CatalogError, ConfigError, InvalidInput
from tests.fakes.aws import BUCKET, list_keys, load_event, read_object
from tests.fakes.homebrew import FakeHomebrew

Invoke = Callable[[str, Any], Any]
OUTPUT_KEYS = {"run_id", "bucket", "base", "layout", "plan_key", "summary_key", "selected",
               "present", "planned", "planned_bytes", "route", "invalid", "max_items_per_batch",
               "map_max_concurrency", "map_results_prefix", "to_fetch", "ecs_threshold",
               "catalogue"}
WGET_CLOSURE = ("wget", "openssl@3", "ca-certificates", "libidn2", "libunistring")


def test_sample_event_writes_the_plan_and_returns_the_contract(
        invoke: Invoke, homebrew: FakeHomebrew) -> None:
    """GIVEN events/plan_sync.json (formulae: wget) WHEN planned THEN plan.json lists wget's
    closure, the summary is stored, and the output has exactly the contract's keys."""
    out = invoke("plan_sync", load_event("plan_sync"))
    assert set(out) == OUTPUT_KEYS
    run_id = out["run_id"]
    assert (out["bucket"], out["base"], out["layout"]) == (BUCKET, f"s3://{BUCKET}",
                                                           "bottle-domain")
    assert out["plan_key"] == f"runs/{run_id}/plan.json"
    assert out["map_results_prefix"] == f"runs/{run_id}/map/"
    items = json.loads(read_object(out["plan_key"]) or b"null")
    expected = {homebrew.file_name(n, t) for n in WGET_CLOSURE
                for t in homebrew.formula(n).tags if t in ("arm64_sequoia", "x86_64_linux", "all")}
    assert {i["file"] for i in items} == expected
    assert out["planned"] == out["selected"] == len(expected) and out["present"] == 0
    assert out["planned_bytes"] == sum(homebrew.size(i["name"], i["tag"]) for i in items)
    assert out["route"] == "lambda" and out["invalid"] == 0
    assert (out["max_items_per_batch"], out["map_max_concurrency"]) == (50, 20)
    assert json.loads(read_object(out["summary_key"]) or b"{}")["planned"] == len(expected)
    assert homebrew.count("blob") == 0


def test_threshold_and_batching_come_from_the_environment(
        invoke: Invoke, function_env: Callable[..., None]) -> None:
    """GIVEN a tiny ECS threshold and batching variables WHEN planned THEN route is ecs."""
    function_env(BOTTLESYNC_ECS_THRESHOLD="1", MAX_ITEMS_PER_BATCH="7", MAP_MAX_CONCURRENCY="3")
    out = invoke("plan_sync", {})
    assert out["route"] == "ecs"
    assert (out["max_items_per_batch"], out["map_max_concurrency"]) == (7, 3)


def test_dry_run_stores_an_empty_plan_and_routes_to_none(invoke: Invoke) -> None:
    """GIVEN dry_run WHEN planned THEN the counts are real but nothing is planned for fetching."""
    out = invoke("plan_sync", {**load_event("plan_sync"), "dry_run": True})
    assert out["route"] == "none" and out["would_route"] == "lambda" and out["planned"] > 0
    assert json.loads(read_object(out["plan_key"]) or b"null") == []


@pytest.mark.parametrize(("event", "error"), [
    ({"formula": ["wget"]}, InvalidInput),
    ({"formulae": "wget"}, InvalidInput),
    ({"dry_run": "yes"}, InvalidInput),
    ({"formulae": ["no-such-formula"]}, ConfigError),
    (["wget"], InvalidInput),
])
def test_bad_input_raises_the_domain_error_unwrapped(
        invoke: Invoke, event: Any, error: type[Exception]) -> None:
    """GIVEN a malformed schedule input WHEN planned THEN the domain error class propagates
    (its name is the Lambda errorType the ASL matches) and nothing is written."""
    with pytest.raises(error):
        invoke("plan_sync", event)
    assert list_keys() == []


def test_unreadable_catalogue_raises_catalog_error(invoke: Invoke, homebrew: FakeHomebrew) -> None:
    """GIVEN a catalogue that is not JSON WHEN planned THEN CatalogError, nothing written."""
    homebrew.raw_catalogue = b"<html>oops</html>"
    with pytest.raises(CatalogError):
        invoke("plan_sync", {})
    assert list_keys() == []
