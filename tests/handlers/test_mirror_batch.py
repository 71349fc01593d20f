"""functions/mirror_batch: an ItemBatcher batch in, bottles and a fragment in S3, counts out."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from bottlesync.errors import InvalidInput
from tests.fakes.aws import batch_for_fakes, list_keys, load_event, read_object
from tests.fakes.homebrew import FakeHomebrew

Invoke = Callable[[str, Any], Any]


@pytest.fixture
def event(homebrew: FakeHomebrew) -> dict[str, Any]:
    """events/mirror_batch.json with its bottles and bucket pointed at the fakes."""
    return batch_for_fakes(load_event("mirror_batch"), homebrew)


def test_sample_batch_lands_and_writes_its_fragment(
        invoke: Invoke, event: dict[str, Any], homebrew: FakeHomebrew) -> None:
    """GIVEN the sample batch WHEN mirrored THEN both bottles are stored with upstream's bytes,
    the fragment lists them, and the output is the small counts object."""
    out = invoke("mirror_batch", event)
    run_id = event["BatchInput"]["run_id"]
    assert set(out) == {"run_id", "batch", "fragment", "mirrored", "failed", "bytes"}
    assert (out["run_id"], out["mirrored"], out["failed"]) == (run_id, 2, 0)
    for item in event["Items"]:
        assert read_object(item["key"]) == homebrew.blob(item["name"], item["tag"])
    assert out["bytes"] == sum(i["size"] for i in event["Items"])
    assert out["fragment"] == f"runs/{run_id}/results/{out['batch']}.json"
    fragment = json.loads(read_object(out["fragment"]) or b"{}")
    assert {r["file"]: r["status"] for r in fragment["results"]} == {
        i["file"]: "mirrored" for i in event["Items"]}


def test_a_bad_bottle_is_a_result_not_an_error(
        invoke: Invoke, event: dict[str, Any], homebrew: FakeHomebrew) -> None:
    """GIVEN one blob always served with wrong bytes WHEN mirrored THEN the handler returns
    failed=1 (a crash would be a Map child failure) and that key stays empty."""
    bad = event["Items"][0]
    homebrew.fault("wrong_bytes", match=bad["sha256"], times=-1)
    out = invoke("mirror_batch", event)
    assert (out["mirrored"], out["failed"]) == (1, 1)
    assert read_object(bad["key"]) is None
    fragment = json.loads(read_object(out["fragment"]) or b"{}")
    assert [r["error"] for r in fragment["results"] if r["status"] == "failed"] == [
        "DigestMismatch"]


def _other_bucket(event: dict[str, Any]) -> None:
    event["BatchInput"]["base"] = "s3://someone-elses-bucket"


def _unsafe_key(event: dict[str, Any]) -> None:
    event["Items"][0]["key"] = "../bottles_hash.json"


def _dated_key_in_bottle_domain(event: dict[str, Any]) -> None:
    event["Items"][0]["key"] = f"2026-11-28/{event['Items'][0]['file']}"


def _foreign_url(event: dict[str, Any]) -> None:
    event["Items"][0]["url"] = event["Items"][0]["url"].replace("/wget/", "/curl/")


def _bad_run_id(event: dict[str, Any]) -> None:
    event["BatchInput"]["run_id"] = "../../etc"


def _no_items(event: dict[str, Any]) -> None:
    del event["Items"]


def _bad_layout(event: dict[str, Any]) -> None:
    event["BatchInput"]["layout"] = "flat"


@pytest.mark.parametrize("tamper", [_other_bucket, _unsafe_key, _dated_key_in_bottle_domain,
                                    _foreign_url, _bad_run_id, _no_items, _bad_layout])
def test_a_tampered_batch_is_refused_before_any_write(
        invoke: Invoke, event: dict[str, Any], homebrew: FakeHomebrew,
        tamper: Callable[[dict[str, Any]], None]) -> None:
    """GIVEN a batch whose base, key, url, run id, items or layout are wrong WHEN invoked THEN
    InvalidInput propagates, nothing is downloaded and nothing is written."""
    bad = copy.deepcopy(event)
    tamper(bad)
    with pytest.raises(InvalidInput):
        invoke("mirror_batch", bad)
    assert list_keys() == [] and homebrew.count("blob") == 0
