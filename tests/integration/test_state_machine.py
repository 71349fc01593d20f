"""The shipped state machine, run by moto's interpreter against the real handlers and container.

Lambda invokes and ecs:runTask.sync are routed in-process by tests/fakes/aws.py; upstream is
FakeHomebrew, Slack is FakeSlack (webhook in moto Secrets Manager), S3 and SNS are moto.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bottlesync.config import Settings
from bottlesync.manifest import MANIFEST_KEY
from bottlesync.storage import open_storage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from tests.conftest import TEST_TAGS
from tests.fakes.aws import (
    AWS_ENV,
    BUCKET,
    MOTO_CONFIG,
    REGION,
    StateMachineHarness,
    create_slack_secret,
    create_topic,
    lambda_env,
    list_keys,
    read_object,
    sent_emails,
)
from tests.fakes.homebrew import FakeHomebrew
from tests.fakes.slack import FakeSlack

WGET_CLOSURE = ("wget", "openssl@3", "ca-certificates", "libidn2", "libunistring")


@dataclass
class World:
    """One deployed stack: the harness and the fakes behind it."""

    machine: StateMachineHarness
    homebrew: FakeHomebrew
    slack: FakeSlack
    topic: str
    env: dict[str, str]

    def wanted(self, names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
        """file -> (name, tag) of every bottle of `names` for the test tags (plus `all`)."""
        tags = {*TEST_TAGS, "all"}
        return {self.homebrew.file_name(n, t): (n, t) for n in names
                for t in self.homebrew.formula(n).tags if t in tags}

    def manifest(self) -> dict[str, Any]:
        """bottles_hash.json as committed."""
        data = read_object(MANIFEST_KEY)
        assert data is not None, "no manifest committed"
        return dict(json.loads(data))

    def assert_landed(self, names: tuple[str, ...], but: frozenset[str] = frozenset()) -> None:
        """Every wanted bottle (except `but`) is in S3 with upstream's bytes and in the manifest."""
        bottles = self.manifest()["bottles"]
        for file, (name, tag) in self.wanted(names).items():
            if file in but:
                assert read_object(f"bottles/{file}") is None
                assert file not in bottles
                continue
            data = read_object(f"bottles/{file}")
            assert data == self.homebrew.blob(name, tag), file
            assert bottles[file]["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, homebrew: FakeHomebrew
          ) -> Iterator[Callable[..., World]]:
    """Deploy the stack into moto; keyword arguments override the functions' environment."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with FakeSlack() as slack, mock_aws(config=MOTO_CONFIG):
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)

        def deploy(**overrides: str) -> World:
            env = lambda_env(homebrew.source_url, SLACK_SECRET_ARN=create_slack_secret(
                slack.webhook_url), ALERT_TOPIC_ARN=create_topic(), CRITICAL_FAILURES="3",
                MAX_ITEMS_PER_BATCH="3", MAP_MAX_CONCURRENCY="4", **overrides)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            harness = StateMachineHarness(env, monkeypatch)
            harness.deploy()
            return World(harness, homebrew, slack, env["ALERT_TOPIC_ARN"], env)

        yield deploy


def test_small_plan_goes_through_the_map_and_lands(world: Callable[..., World]) -> None:
    """GIVEN an empty bucket WHEN the scheduled input {} runs THEN every bottle lands via the Map,
    the manifest is committed, the run record written and Slack gets the summary."""
    w = world()
    run = w.machine.run({})
    assert run.status == "SUCCEEDED", run
    plan = run.output["plan"]
    everything = tuple(w.homebrew.formula(e["name"]).name for e in w.homebrew.catalogue)
    assert plan["route"] == "lambda" and plan["planned"] == len(w.wanted(everything))
    w.assert_landed(everything)
    report = run.output["report"]
    assert (report["mirrored"], report["failed"]) == (plan["planned"], 0)
    assert json.loads(read_object(report["record_key"]) or b"{}")["run_id"] == plan["run_id"]
    batches = w.machine.calls("mirror_batch")
    assert len(batches) == plan["planned"]  # moto: batches of one (see moto_definition)
    assert all(b["BatchInput"]["base"] == f"s3://{BUCKET}" for b in batches)
    assert len(list_keys(f"runs/{plan['run_id']}/results/")) == plan["planned"]
    assert run.output["notify"] == {"slack": "sent", "email": "skipped", "critical": False}
    [message] = w.slack.messages
    assert plan["run_id"] in message["text"] and f"mirrored {plan['planned']}" in message["text"]
    assert sent_emails(w.topic) == []


def test_big_plan_goes_to_fargate_with_progress(world: Callable[..., World]) -> None:
    """GIVEN a threshold below the plan's size WHEN it runs THEN one container task mirrors the
    plan in chunks (progress on Slack), no Lambda batch runs, Commit run merges the fragments."""
    w = world(BOTTLESYNC_ECS_THRESHOLD="1")
    w.machine.batch_argv = ["--chunk-items", "4", "--progress-every", "1"]
    run = w.machine.run({"formulae": ["wget"]})
    assert run.status == "SUCCEEDED", run
    plan = run.output["plan"]
    assert plan["route"] == "ecs"
    [(env, code, _log)] = w.machine.task_runs
    assert code == 0
    assert (env["BOTTLESYNC_RUN_ID"], env["BOTTLESYNC_PLAN_KEY"]) == (plan["run_id"],
                                                                       plan["plan_key"])
    assert w.machine.calls("mirror_batch") == []
    w.assert_landed(WGET_CLOSURE)
    assert run.output["report"]["mirrored"] == plan["planned"] == len(w.wanted(WGET_CLOSURE))
    chunks = -(-plan["planned"] // 4)
    assert len(list_keys(f"runs/{plan['run_id']}/results/")) == chunks
    texts = [m["text"] for m in w.slack.messages]
    assert sum("chunk" in t for t in texts) == chunks - 1
    assert f"mirrored {plan['planned']}" in texts[-1]


def test_nothing_to_do_commits_an_empty_run(world: Callable[..., World]) -> None:
    """GIVEN a bucket the CLI's run_sync already filled WHEN the machine runs THEN the route is
    none: no batch, no download, a run record, and a summary saying nothing was mirrored."""
    w = world()
    settings = Settings.from_env(w.env)
    with Upstream(settings) as upstream:
        local = run_sync(settings, storage=open_storage(settings.dest), upstream=upstream)
    assert local.failed == 0 and local.mirrored > 0
    before, blobs = w.manifest(), w.homebrew.count("blob")
    run = w.machine.run({})
    assert run.status == "SUCCEEDED", run
    assert run.output["plan"]["route"] == "none"
    assert w.machine.calls("mirror_batch") == [] and w.homebrew.count("blob") == blobs
    assert w.manifest() == before
    assert read_object(run.output["report"]["record_key"]) is not None
    assert "mirrored 0" in w.slack.messages[-1]["text"]


def test_a_bottle_that_never_verifies_is_reported_and_the_rest_land(
        world: Callable[..., World]) -> None:
    """GIVEN one blob always served with wrong bytes WHEN the machine runs THEN the execution
    succeeds, that bottle is a DigestMismatch failure (not stored), and the others land."""
    w = world()
    bad = w.homebrew.file_name("libidn2", "x86_64_linux")
    w.homebrew.fault("wrong_bytes", match=w.homebrew.sha256("libidn2", "x86_64_linux"), times=-1)
    run = w.machine.run({"formulae": ["wget"]})
    assert run.status == "SUCCEEDED", run
    report = run.output["report"]
    assert report["failed"] == report["failures_total"] == 1
    assert report["failures"][0]["bottle"] == bad
    assert report["failures"][0]["error"] == "DigestMismatch"
    w.assert_landed(WGET_CLOSURE, but=frozenset({bad}))
    assert bad in w.slack.messages[-1]["text"]
    assert run.output["notify"]["critical"] is False


def test_a_failing_lambda_is_caught_notified_and_fails_the_execution(
        world: Callable[..., World]) -> None:
    """GIVEN a catalogue that is not JSON WHEN Plan sync raises CatalogError THEN Notify failure
    posts the error to Slack and e-mails the alert topic, and the execution FAILS."""
    w = world()
    w.homebrew.raw_catalogue = b"<html>maintenance</html>"
    run = w.machine.run({})
    assert (run.status, run.error) == ("FAILED", "SyncFailed")
    assert [name for name, _ in w.machine.invocations] == ["plan_sync", "notify"]
    [message] = w.slack.messages
    assert "CatalogError" in message["text"]
    [(subject, body)] = sent_emails(w.topic)
    assert "CatalogError" in (subject or "") and "CatalogError" in body
    assert read_object(MANIFEST_KEY) is None


def test_a_replayed_execution_downloads_nothing(world: Callable[..., World]) -> None:
    """GIVEN a finished execution WHEN the same input runs again THEN nothing is downloaded and
    the manifest is unchanged except, at most, its updated_at."""
    w = world()
    first = w.machine.run({"formulae": ["jq"]})
    assert first.status == "SUCCEEDED", first
    manifest, blobs = w.manifest(), w.homebrew.count("blob")
    second = w.machine.run({"formulae": ["jq"]})
    assert second.status == "SUCCEEDED", second
    assert w.homebrew.count("blob") == blobs
    again = w.manifest()
    assert {**again, "updated_at": None} == {**manifest, "updated_at": None}
    assert second.output["report"]["mirrored"] == 0 and second.output["report"]["failed"] == 0
