"""bottlesync.events: the Step Functions shapes the handlers parse and return."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bottlesync.bottle import Bottle, PlanItem, key_for
from bottlesync.commit import RunReport
from bottlesync.config import Settings
from bottlesync.errors import ConfigError, Failure, InvalidInput
from bottlesync.events import (
    BatchInput,
    HandlerConfig,
    PlanSyncRequest,
    bucket_key,
    commit_output,
    plan_sync_output,
)
from bottlesync.plan import Plan
from bottlesync.storage import S3Storage

RUN_ID = "20261128T030000Z-1a2b3c4d"
SHA = "ab" * 32
BOTTLE = Bottle("wget", "1.25.0_1", "arm64_sequoia", 1, SHA,
                f"https://ghcr.io/v2/homebrew/core/wget/blobs/sha256:{SHA}")


def batch(layout: str = "bottle-domain", key: str | None = None) -> dict[str, Any]:
    """A one-item ItemBatcher event."""
    item = PlanItem(BOTTLE, key or key_for(BOTTLE, layout, "2026-11-28"), 10).to_dict()
    return {"Items": [item], "BatchInput": {"run_id": RUN_ID, "base": "s3://b", "layout": layout}}


def test_handler_config_defaults_and_overrides() -> None:
    """Defaults without variables; the variables when set."""
    assert HandlerConfig.from_env({}) == HandlerConfig()
    config = HandlerConfig.from_env({"MAX_ITEMS_PER_BATCH": "5", "MAP_MAX_CONCURRENCY": "2",
                                     "SLACK_SECRET_ARN": "arn:s", "ALERT_TOPIC_ARN": "arn:t",
                                     "CRITICAL_FAILURES": "9"})
    assert config == HandlerConfig(5, 2, "arn:s", "arn:t", 9)


@pytest.mark.parametrize("value", ["0", "-1", "ten", "1.5"])
def test_handler_config_names_a_bad_variable(value: str) -> None:
    """A bad integer is a ConfigError naming the variable and value."""
    with pytest.raises(ConfigError, match=f"MAX_ITEMS_PER_BATCH={value!r}"):
        HandlerConfig.from_env({"MAX_ITEMS_PER_BATCH": value})


def test_request_narrows_formulae_only_when_given() -> None:
    """`formulae` replaces the configured ones; absent keeps them."""
    settings = Settings(formulae=("jq",))
    assert PlanSyncRequest.from_event({}).apply(settings) is settings
    assert PlanSyncRequest.from_event({"formulae": ["wget"]}).apply(settings).formulae == (
        "wget",)
    with pytest.raises(ConfigError, match="plan_sync input"):
        PlanSyncRequest.from_event({"formulae": ["../x"]}).apply(settings)


@pytest.mark.parametrize("layout", ["bottle-domain", "artifact-domain", "dated"])
def test_batch_input_accepts_each_layout(layout: str) -> None:
    """A batch whose keys are its layout's keys parses back to the same items."""
    parsed = BatchInput.from_event(batch(layout), base="s3://b")
    assert (parsed.run_id, parsed.layout, parsed.items[0].bottle) == (RUN_ID, layout, BOTTLE)


@pytest.mark.parametrize(("layout", "key"), [
    ("bottle-domain", f"v2/homebrew/core/wget/blobs/sha256:{SHA}"),
    ("dated", f"bottles/{BOTTLE.file}"),
    ("artifact-domain", f"2026-11-28/{BOTTLE.file}"),
])
def test_batch_input_refuses_keys_of_another_layout(layout: str, key: str) -> None:
    """Keys must be the declared layout's, so one batch cannot write across layouts."""
    with pytest.raises(InvalidInput, match=r"Items\[0\].key"):
        BatchInput.from_event(batch(layout, key), base="s3://b")


def test_batch_input_names_the_bad_item_and_the_foreign_base() -> None:
    """InvalidInput says which key is wrong."""
    event = batch()
    del event["Items"][0]["sha256"]
    with pytest.raises(InvalidInput, match=r"Items\[0\]: plan item lacks key 'sha256'"):
        BatchInput.from_event(event, base="s3://b")
    with pytest.raises(InvalidInput, match="'s3://b' is not this function's destination "
                                           "'s3://mine'"):
        BatchInput.from_event(batch(), base="s3://mine")
    no_batch_input = copy.deepcopy(batch())
    del no_batch_input["BatchInput"]
    with pytest.raises(InvalidInput, match="BatchInput"):
        BatchInput.from_event(no_batch_input, base="s3://b")


def test_keys_in_the_output_include_the_bucket_prefix() -> None:
    """With s3://bucket/prefix, ItemReader needs prefix/runs/...: keys are bucket-level."""
    storage = S3Storage("bucket", "mirror/core", client=object())
    plan = Plan(run_id=RUN_ID, created_at="x", source="s", base=storage.base,
                layout="bottle-domain", selected=3, present=2,
                items=[PlanItem(BOTTLE, f"bottles/{BOTTLE.file}", 10)], threshold=100)
    out = plan_sync_output(plan, plan, storage, HandlerConfig())
    assert out["plan_key"] == f"mirror/core/runs/{RUN_ID}/plan.json"
    assert out["map_results_prefix"] == f"mirror/core/runs/{RUN_ID}/map/"
    assert (out["bucket"], out["base"], out["route"]) == ("bucket", "s3://bucket/mirror/core",
                                                          "lambda")
    assert bucket_key(storage, "x") == "mirror/core/x"


def test_commit_output_keeps_twenty_failures_and_the_total() -> None:
    """A big failure list is cut for the state payload; the total and record key say the rest."""
    failures = [Failure(f"b{i}", "DigestMismatch", "m") for i in range(25)]
    report = RunReport(RUN_ID, 30, 5, 0, 100, 0, "lambda", failures)
    out = commit_output(report, S3Storage("bucket", "", client=object()))
    assert len(out["failures"]) == 20 and out["failures"][0]["bottle"] == "b0"
    assert (out["failed"], out["failures_total"]) == (25, 25)
    assert out["record_key"] == f"runs/2026/11/28/{RUN_ID}.json"


@pytest.mark.parametrize("url", ["https://[::1/v2/homebrew/core/wget/blobs/sha256:" + SHA,
                                 "https://ghcr.io:99999/v2/homebrew/core/wget/blobs/sha256:" + SHA,
                                 "https://2130706433/v2/homebrew/core/wget/blobs/sha256:" + SHA])
def test_a_tampered_item_url_is_invalid_input(url: str) -> None:
    """GIVEN a Mirror batch item whose URL urllib rejects or names an odd host THEN InvalidInput
    names the item (not a ValueError later at fetch time)."""
    event = batch()
    event["Items"][0]["url"] = url
    with pytest.raises(InvalidInput, match=r"Items\[0\].*url"):
        BatchInput.from_event(event, base="s3://b")
