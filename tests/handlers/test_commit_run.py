"""functions/commit_run: {"run_id"} in, manifest merged and run record written, the report out."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import boto3
import pytest

from bottlesync.errors import InvalidInput
from bottlesync.manifest import MANIFEST_KEY
from tests.fakes.aws import BUCKET, REGION, read_object
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

Invoke = Callable[[str, Any], Any]


def _plan_and_mirror(invoke: Invoke, event: dict[str, Any]) -> dict[str, Any]:
    """Run Plan sync, then Mirror batch over its items in batches of 3, as the Map would."""
    plan = invoke("plan_sync", event)
    items = json.loads(read_object(plan["plan_key"]) or b"[]")
    shared = {k: plan[k] for k in ("run_id", "base", "layout")}
    for start in range(0, len(items), 3):
        invoke("mirror_batch", {"Items": items[start:start + 3], "BatchInput": shared})
    return dict(plan)


def test_commit_merges_the_fragments_and_writes_the_record(invoke: Invoke) -> None:
    """GIVEN a planned and mirrored run WHEN committed with the sample's shape THEN the manifest
    lists every bottle and the output is the CLI report plus failures_total and record_key."""
    plan = _plan_and_mirror(invoke, {"formulae": ["wget"]})
    out = invoke("commit_run", {"run_id": plan["run_id"]})
    assert set(out) == {"run_id", "selected", "present", "seeded", "mirrored", "failed",
                        "planned_bytes",
                        "bytes", "route", "failures", "failures_total", "invalid_entries",
                        "record_key", "result", "error", "cause", "failure_rate",
                        "storage_failures", "upstream_failures", "estimated_cost_usd",
                        "landed"}
    assert (out["result"], out["error"], out["failure_rate"]) == ("SUCCEEDED", None, 0.0)
    assert 0 < out["estimated_cost_usd"] < 0.01
    assert (out["mirrored"], out["failed"], out["failures"]) == (plan["planned"], 0, [])
    assert out["record_key"] == (f"runs/{plan['run_id'][:4]}/{plan['run_id'][4:6]}/"
                                 f"{plan['run_id'][6:8]}/{plan['run_id']}.json")
    record = json.loads(read_object(out["record_key"]) or b"{}")
    assert len(record["added"]) == plan["planned"]
    manifest = json.loads(read_object(MANIFEST_KEY) or b"{}")
    assert set(manifest["bottles"]) == set(record["added"])


def test_failures_are_truncated_to_twenty_with_the_total(
        invoke: Invoke, function_env: Callable[..., None],
        make_homebrew: Callable[[Sequence[FakeFormula]], FakeHomebrew]) -> None:
    """GIVEN a run whose 24 bottles all fail WHEN committed THEN the output carries the first 20
    failures and failures_total counts them all (the state payload stays small)."""
    fake = make_homebrew([FakeFormula(f"tool{i}", "1.0") for i in range(12)])
    function_env(BOTTLESYNC_SOURCE=fake.source_url)
    plan = invoke("plan_sync", {})
    items = json.loads(read_object(plan["plan_key"]) or b"[]")
    dead = [{**i, "url": i["url"].replace(fake.root_url, "http://127.0.0.1:9/v2/homebrew/core")}
            for i in items]  # nothing listens on port 9: every download fails
    invoke("mirror_batch", {"Items": dead, "BatchInput": {k: plan[k] for k in
                                                          ("run_id", "base", "layout")}})
    out = invoke("commit_run", {"run_id": plan["run_id"]})
    assert len(items) == 24
    assert out["failures_total"] == out["failed"] == 24
    assert len(out["failures"]) == 20
    assert out["mirrored"] == 0


def test_commit_is_idempotent_on_replay(invoke: Invoke) -> None:
    """GIVEN a committed run WHEN Commit run is retried THEN the same report and manifest."""
    plan = _plan_and_mirror(invoke, {"formulae": ["jq"]})
    first = invoke("commit_run", {"run_id": plan["run_id"]})
    manifest = json.loads(read_object(MANIFEST_KEY) or b"{}")
    second = invoke("commit_run", {"run_id": plan["run_id"]})
    assert first == second
    assert json.loads(read_object(MANIFEST_KEY) or b"{}")["bottles"] == manifest["bottles"]


@pytest.mark.parametrize("event", [{}, {"run_id": "../x"}, {"run_id": 7}, []])
def test_a_bad_run_id_is_invalid_input(invoke: Invoke, event: Any) -> None:
    """GIVEN no or a malformed run_id WHEN committed THEN InvalidInput (nothing read or written)."""
    with pytest.raises(InvalidInput):
        invoke("commit_run", event)


@pytest.mark.parametrize(("public_url", "line"), [
    ("https://brew.corp.test", "export HOMEBREW_BOTTLE_DOMAIN=https://brew.corp.test/bottles"),
    ("", "export HOMEBREW_BOTTLE_DOMAIN=https://mirror.example.internal/bottles")])
def test_commit_writes_the_status_page_with_the_public_url(
        invoke: Invoke, function_env: Callable[..., None], public_url: str, line: str) -> None:
    """GIVEN BOTTLESYNC_PUBLIC_URL (the PublicUrl parameter; empty by default) WHEN a run
    commits THEN status.json and an HTML index.html land at the bucket's base, with its address."""
    function_env(BOTTLESYNC_PUBLIC_URL=public_url)
    plan = _plan_and_mirror(invoke, {"formulae": ["jq"]})
    invoke("commit_run", {"run_id": plan["run_id"]})
    status = json.loads(read_object("status.json") or b"{}")
    assert status["last_run"]["run_id"] == plan["run_id"] and status["state"] == "green"
    page = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key="index.html")
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert line in page["Body"].read().decode()


def emf_metrics(printed: str) -> dict[str, Any]:
    """The metric values of the EMF lines Powertools printed (name -> (value, unit))."""
    found: dict[str, Any] = {}
    for line in printed.splitlines():
        if line.startswith("{") and "_aws" in line:
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    [value] = blob[metric["Name"]]  # Powertools prints a list of values
                    found[metric["Name"]] = (value, metric.get("Unit"))
    return found


def test_commit_emits_the_shaped_metrics(invoke: Invoke, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    """GIVEN a clean Lambda-route run WHEN committed THEN Powertools prints every commit metric
    with its unit (no ECS task metrics on the Lambda route)."""
    plan = _plan_and_mirror(invoke, {"formulae": ["wget"]})
    capsys.readouterr()
    out = invoke("commit_run", {"run_id": plan["run_id"]})
    emitted = emf_metrics(capsys.readouterr().out)
    assert emitted["BottlesCommitted"] == (out["mirrored"], "Count")
    assert emitted["FailureRate"] == (0.0, "Percent")
    assert emitted["StalledRuns"] == (0, "Count")
    assert emitted["EstimatedCostUSD"][1] == "None"
    assert {"RunFailures", "StorageFailures", "UpstreamFailures"} <= set(emitted)
    assert "EcsTasks" not in emitted
