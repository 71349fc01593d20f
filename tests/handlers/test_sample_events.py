"""Every events/*.json sample, exactly as shipped, with the environment of the README's
`sam local invoke` recipe (its env.json): the documented commands must not raise InvalidInput."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from bottlesync.commit import record_key
from bottlesync.config import Settings
from bottlesync.plan import build_plan, write_plan
from bottlesync.storage import open_storage
from bottlesync.upstream import Upstream
from tests.conftest import TEST_TAGS
from tests.fakes.aws import AWS_ENV, REGION, ROOT, LambdaContext, load_event, load_handler
from tests.fakes.homebrew import FakeHomebrew


def readme_env() -> dict[str, str]:
    """The `{"Parameters": {...}}` env.json the README gives `sam local invoke`."""
    match = re.search(r'`(\{"Parameters": \{.*?\}\})`', (ROOT / "README.md").read_text())
    assert match, "README.md has no env.json example"
    return dict(json.loads(match.group(1))["Parameters"])


def samples(function: str) -> list[str]:
    """The event files the README's recipe feeds to `function`."""
    recipe = (ROOT / "README.md").read_text()
    return re.findall(rf"sam local invoke {function}\s+-e events/(\w+)\.json", recipe)


@pytest.fixture
def sam_local(monkeypatch: pytest.MonkeyPatch, offline: None) -> Iterator[dict[str, str]]:
    """moto with the README's bucket, the README's env.json, and no way off this machine."""
    env = readme_env()
    for name, value in {**AWS_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=env["BOTTLESYNC_DEST"].removeprefix("s3://"))
        yield env


def test_the_readme_recipe_names_every_sample() -> None:
    """Each function's documented invocations name files that exist in events/."""
    for function, expected in (("PlanSyncFunction", ["plan_sync"]),
                               ("CommitRunFunction", ["commit_run"]),
                               ("MirrorBatchFunction", ["mirror_batch"]),
                               ("NotifyFunction", ["notify", "notify_failure", "notify_alarm",
                                                   "notify_execution"])):
        assert samples(function) == expected
        assert all((ROOT / "events" / f"{name}.json").is_file() for name in expected)


def test_mirror_batch_sample_is_accepted_as_shipped(sam_local: dict[str, str]) -> None:
    """GIVEN events/mirror_batch.json and env.json WHEN invoked THEN the batch's base is this
    function's bucket (no InvalidInput); offline, each bottle is a reported failure."""
    event = load_event("mirror_batch")
    assert event["BatchInput"]["base"] == sam_local["BOTTLESYNC_DEST"]
    out = load_handler("mirror_batch")(event, LambdaContext("MirrorBatchFunction"))
    assert (out["mirrored"], out["failed"]) == (0, len(event["Items"]))


@pytest.mark.parametrize("name", ["notify", "notify_failure", "notify_alarm", "notify_execution"])
def test_notify_samples_run_as_shipped(sam_local: dict[str, str], name: str) -> None:
    """GIVEN each notify sample and env.json (no Slack secret) WHEN invoked THEN it completes,
    Slack skipped (not configured), never an exception."""
    out = load_handler("notify")(load_event(name), LambdaContext("NotifyFunction"))
    assert out["slack"] == "skipped"


def test_plan_sync_sample_runs_as_shipped(sam_local: dict[str, str], homebrew: FakeHomebrew,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN events/plan_sync.json and env.json, with only the catalogue pointed at the fake
    upstream (the recipe's default is formulae.brew.sh, and tests never leave this machine) WHEN
    invoked THEN it plans wget and its dependencies into the README's bucket."""
    monkeypatch.setenv("BOTTLESYNC_SOURCE", homebrew.source_url)
    monkeypatch.setenv("BOTTLESYNC_TAGS", ",".join(TEST_TAGS))
    event = load_event("plan_sync")
    out = load_handler("plan_sync")(event, LambdaContext("PlanSyncFunction"))
    assert out["bucket"] == sam_local["BOTTLESYNC_DEST"].removeprefix("s3://")
    assert out["selected"] > 0 and out["planned"] == out["selected"] - out["present"]
    s3 = boto3.client("s3", region_name=REGION)
    assert json.loads(s3.get_object(Bucket=out["bucket"], Key=out["plan_key"])["Body"].read())


def test_commit_run_sample_runs_as_shipped(sam_local: dict[str, str], homebrew: FakeHomebrew
                                           ) -> None:
    """GIVEN the plan of the sample's run in the README's bucket WHEN events/commit_run.json is
    invoked as shipped THEN that run is committed and its dated run record written."""
    run_id = load_event("commit_run")["run_id"]
    storage = open_storage(sam_local["BOTTLESYNC_DEST"])
    settings = Settings(source=homebrew.source_url, dest=sam_local["BOTTLESYNC_DEST"],
                        tags=TEST_TAGS, formulae=("wget",), api=False)
    with Upstream(settings) as upstream:
        plan = build_plan(settings, upstream=upstream, storage=storage, run_id=run_id,
                          now=datetime(2026, 11, 28, 3, tzinfo=UTC))
    write_plan(storage, replace(plan, items=[]))  # nothing to fetch: commit what is there
    out = load_handler("commit_run")(load_event("commit_run"), LambdaContext("CommitRunFunction"))
    assert (out["run_id"], out["result"]) == (run_id, "SUCCEEDED")
    assert storage.get(record_key(run_id)) is not None
