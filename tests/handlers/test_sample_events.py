"""Every events/*.json sample, exactly as shipped, with the environment of the README's
`sam local invoke` recipe (its env.json): the documented commands must not raise InvalidInput."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.fakes.aws import AWS_ENV, REGION, ROOT, LambdaContext, load_event, load_handler


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
    for function, expected in (("MirrorBatchFunction", ["mirror_batch"]),
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
