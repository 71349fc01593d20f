"""The shipped state machine, run by moto's interpreter against the real handlers and container.

Lambda invokes and ecs:runTask.sync are routed in-process by tests/fakes/aws.py; upstream is
FakeHomebrew, Slack is FakeSlack (webhook in moto Secrets Manager), S3 and SNS are moto.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bottlesync.config import Settings
from bottlesync.manifest import MANIFEST_KEY
from bottlesync.plan import route_for
from bottlesync.storage import open_storage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from tests.conftest import TEST_TAGS
from tests.fakes.aws import (
    ACCOUNT,
    ASL,
    AWS_ENV,
    BUCKET,
    MOTO_CONFIG,
    REGION,
    StateMachineHarness,
    all_states,
    create_slack_secret,
    create_topic,
    lambda_env,
    list_keys,
    read_object,
    sent_emails,
)
from tests.fakes.homebrew import (
    CATALOGUE_PATH,
    FakeFormula,
    FakeHomebrew,
    answer_conditionally,
)
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
            env = lambda_env(homebrew.source_url, **{
                "SLACK_SECRET_ARN": create_slack_secret(slack.webhook_url),
                "ALERT_TOPIC_ARN": create_topic(), "CRITICAL_FAILURES": "3",
                "MAX_ITEMS_PER_BATCH": "3", "MAP_MAX_CONCURRENCY": "4", **overrides})
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
    size = int(w.env["MAX_ITEMS_PER_BATCH"])
    assert [len(b["Items"]) for b in batches[:-1]] == [size] * (len(batches) - 1)
    assert sum(len(b["Items"]) for b in batches) == plan["planned"] > size
    assert all(b["BatchInput"] == {"run_id": plan["run_id"], "base": f"s3://{BUCKET}",
                                   "layout": "bottle-domain"} for b in batches)
    assert w.machine.map_runs == [{"total": len(batches), "succeeded": len(batches),
                                   "failed": 0}]
    assert len(list_keys(f"runs/{plan['run_id']}/results/")) == len(batches)
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


def test_an_unchanged_catalogue_after_a_clean_run_ends_on_one_request(
        world: Callable[..., World]) -> None:
    """GIVEN a clean scheduled run and an upstream that answers 304 to its ETag WHEN the
    schedule runs again THEN Plan sync sends that one conditional request and nothing else,
    writes the run record (not modified, the last run's counts), and the execution succeeds
    straight from Route by size: no batch, no Commit run, no notice, the manifest untouched."""
    w = world()
    answer_conditionally(w.homebrew)
    first = w.machine.run({})
    assert first.status == "SUCCEEDED", first
    manifest, sent, calls = read_object(MANIFEST_KEY), len(w.homebrew.requests), len(
        w.machine.invocations)
    messages = len(w.slack.messages)
    second = w.machine.run({})
    assert second.status == "SUCCEEDED", second
    [request] = w.homebrew.requests[sent:]
    assert (request.path, request.status) == (CATALOGUE_PATH, 304)
    assert request.headers.get("If-None-Match")
    assert [name for name, _ in w.machine.invocations[calls:]] == ["plan_sync"]
    plan = second.output["plan"]
    assert (plan["catalogue"], plan["route"], plan["to_fetch"]) == ("not modified", "none", 0)
    assert plan["selected"] == plan["present"] == first.output["plan"]["selected"] > 0
    assert "report" not in second.output and len(w.slack.messages) == messages
    assert read_object(MANIFEST_KEY) == manifest
    assert list_keys(f"runs/{plan['run_id']}/") == []  # no plan, no summary: nothing to commit
    record = record_of(plan["run_id"])
    assert record["catalogue"] == "not modified" and record["failed"] == 0
    assert (record["selected"], record["mirrored"], record["route"]) == (plan["selected"], 0,
                                                                         "none")


def test_a_run_with_failures_lets_the_next_one_fetch_in_full(
        world: Callable[..., World]) -> None:
    """GIVEN a run where one bottle failed WHEN the schedule runs again on an unchanged
    catalogue THEN Plan sync fetches it without conditions and retries the bottle."""
    w = world(BOTTLESYNC_MAX_FAILURE_RATE="50")
    answer_conditionally(w.homebrew)
    bad = w.homebrew.sha256("libidn2", "x86_64_linux")
    w.homebrew.fault("wrong_bytes", match=bad, times=-1)
    assert w.machine.run({}).status == "SUCCEEDED"
    w.homebrew.clear_faults()
    sent = len(w.homebrew.requests)
    again = w.machine.run({})
    assert again.status == "SUCCEEDED", again
    first_request = w.homebrew.requests[sent]
    assert (first_request.path, first_request.status) == (CATALOGUE_PATH, 200)
    assert "If-None-Match" not in first_request.headers
    assert again.output["report"]["mirrored"] >= 1 and again.output["report"]["failed"] == 0


def test_a_bottle_that_never_verifies_is_reported_and_the_rest_land(
        world: Callable[..., World]) -> None:
    """GIVEN one blob always served with wrong bytes and a 20 % tolerance WHEN the machine runs
    THEN the execution succeeds, that bottle is a DigestMismatch failure (not stored), and the
    others land."""
    w = world(BOTTLESYNC_MAX_FAILURE_RATE="20")  # 1 of 9 is 11 %: below this threshold
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


def record_of(run_id: str) -> dict[str, Any]:
    """The dated run record Commit run wrote."""
    data = read_object(f"runs/{run_id[0:4]}/{run_id[4:6]}/{run_id[6:8]}/{run_id}.json")
    assert data is not None, f"no run record for {run_id}"
    return dict(json.loads(data))


def run_id_in(w: World) -> str:
    """The run_id Plan sync returned in this world's only execution."""
    [(_name, plan)] = [r for r in w.machine.results if r[0] == "plan_sync"]
    return str(plan["run_id"])


def test_an_all_failed_run_ends_failed_with_its_record(world: Callable[..., World]) -> None:
    """GIVEN every blob served with wrong bytes WHEN the machine runs THEN Check results ends the
    execution FAILED with FailureRateExceeded and the counts, after the run record (saying
    FAILED) is written and Slack was told."""
    w = world()
    w.homebrew.fault("wrong_bytes", match="/blobs/", times=-1)
    run = w.machine.run({"formulae": ["jq"]})
    assert (run.status, run.error) == ("FAILED", "FailureRateExceeded"), run
    assert "planned 2, mirrored 0, failed 2 (100 %" in (run.cause or "")
    record = record_of(run_id_in(w))
    assert (record["result"], record["error"], record["failed"]) == ("FAILED",
                                                                    "FailureRateExceeded", 2)
    assert [name for name, _ in w.machine.invocations][-2:] == ["commit_run", "notify"]
    assert "FailureRateExceeded" in w.slack.messages[-1]["text"]


def test_one_failure_in_a_hundred_succeeds_and_is_reported(world: Callable[..., World]) -> None:
    """GIVEN 100 planned bottles, one of them always corrupt, and the default 5 % WHEN the
    machine runs THEN it SUCCEEDS, the failure is in the report, the record and on Slack."""
    w = world(MAX_ITEMS_PER_BATCH="20")
    names = [f"tool{i:02d}" for i in range(50)]
    for name in names:
        w.homebrew.set_formula(FakeFormula(name, "1.0", payload_size=64))
    bad = w.homebrew.file_name("tool07", "x86_64_linux")
    w.homebrew.fault("wrong_bytes", match=w.homebrew.sha256("tool07", "x86_64_linux"), times=-1)
    run = w.machine.run({"formulae": names})
    assert run.status == "SUCCEEDED", run
    report = run.output["report"]
    assert (run.output["plan"]["planned"], report["mirrored"], report["failed"]) == (100, 99, 1)
    assert (report["result"], report["failure_rate"]) == ("SUCCEEDED", 1.0)
    assert report["failures"][0]["bottle"] == bad
    record = record_of(report["run_id"])
    assert (record["result"], record["error"], record["failed"]) == ("SUCCEEDED", None, 1)
    assert bad in w.slack.messages[-1]["text"]
    assert w.machine.map_runs == [{"total": 5, "succeeded": 5, "failed": 0}]


def test_a_crashed_batch_fails_the_execution_with_its_record(
        world: Callable[..., World]) -> None:
    """GIVEN the first Mirror batch crashes (an unhandled error) WHEN the machine runs THEN the
    Map tolerates it, Commit run records its bottles as NoResult and Check results FAILS the
    execution with BatchCrashed."""
    w = world()
    real = w.machine.handlers["mirror_batch"]
    crashed: list[int] = []

    def crash_once(event: dict[str, Any], context: Any) -> Any:
        if not crashed:
            crashed.append(len(event["Items"]))
            raise MemoryError("Runtime exited: out of memory")
        return real(event, context)

    w.machine.handlers["mirror_batch"] = crash_once
    run = w.machine.run({"formulae": ["wget"]})
    assert (run.status, run.error) == ("FAILED", "BatchCrashed"), run
    assert f"{crashed[0]} planned bottle(s) have no result" in (run.cause or "")
    record = record_of(run_id_in(w))
    assert record["result"] == "FAILED" and record["mirrored"] > 0
    assert sum(f["error"] == "NoResult" for f in record["failures"]) == crashed[0]
    assert w.machine.map_runs[0]["failed"] == 1


def test_a_fargate_task_that_exits_1_fails_the_execution_with_its_record(
        world: Callable[..., World], monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a big plan whose container exits 1 WHEN the machine runs THEN Commit run still
    writes the run record (TaskFailed) and Check results FAILS the execution."""
    w = world(BOTTLESYNC_ECS_THRESHOLD="1")
    monkeypatch.setattr("tests.fakes.aws.batch.main", lambda argv, env: 1)
    run = w.machine.run({"formulae": ["jq"]})
    assert (run.status, run.error) == ("FAILED", "TaskFailed"), run
    assert "planned 2, mirrored 0" in (run.cause or "")
    record = record_of(run_id_in(w))
    assert (record["result"], record["error"], record["route"]) == ("FAILED", "TaskFailed",
                                                                   "ecs")
    assert "TaskFailed" in w.slack.messages[-1]["text"]


def test_asl_paths_name_keys_the_handlers_return(world: Callable[..., World]) -> None:
    """GIVEN a happy-path run WHEN every ResultSelector `$.Payload.x` and every `$.plan.x` /
    `$.report.x` path of the ASL is looked up THEN each names a key the handler really returned
    (Plan sync for $.plan, Commit run for $.report), and every Map child SUCCEEDED."""
    w = world()
    assert w.machine.run({"formulae": ["wget"]}).status == "SUCCEEDED"
    assert w.machine.map_runs and all(r["succeeded"] == r["total"] for r in w.machine.map_runs)
    returned = dict(w.machine.results)
    definition = json.loads(ASL.read_text())
    states = dict(all_states(definition))
    by_function = {"Plan sync": "plan_sync", "Mirror batch": "mirror_batch",
                   "Commit run": "commit_run", "Notify": "notify"}
    selected: dict[str, set[str]] = {}
    for state_name, function in by_function.items():
        selector = states[state_name]["ResultSelector"]
        for key, path in selector.items():
            assert path.startswith("$.Payload."), (state_name, key)
            assert path.removeprefix("$.Payload.") in returned[function], (state_name, path)
        selected[states[state_name].get("ResultPath", "$")] = {
            k.removesuffix(".$") for k in selector}
    text = json.dumps(definition)
    for prefix in ("$.plan", "$.report"):
        for key in set(re.findall(re.escape(prefix) + r"\.([a-z_]+)", text)):
            assert key in selected[prefix] or key == "task_error", (prefix, key)
    assert "task_error" in json.dumps(states["Mirror on Fargate"]["Catch"])


@pytest.mark.parametrize(("to_fetch", "planned_bytes", "threshold", "route"), [
    (0, 0, 1000, "none"),        # nothing to do: its own branch, whatever the sizes
    (3, 0, 1000, "lambda"),      # 0 bytes (unknown sizes) with work: the Map
    (3, 999, 1000, "lambda"),    # just under
    (3, 1000, 1000, "ecs"),      # exactly at
    (3, 1001, 1000, "ecs"),      # above
])
def test_route_by_size_compares_numbers_in_the_state_machine(
        monkeypatch: pytest.MonkeyPatch, to_fetch: int, planned_bytes: int, threshold: int,
        route: str) -> None:
    """GIVEN the shipped Route by size Choice WHEN it runs in moto on a plan's counts THEN it
    picks the branch route_for (the CLI's `route`) names, comparing planned_bytes with the
    threshold passed in."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    choice = json.loads(ASL.read_text())["States"]["Route by size"]
    targets = {"Commit run": "none", "Mirror bottles": "lambda", "Mirror on Fargate": "ecs"}
    definition = {"StartAt": "Route by size", "States": {
        "Route by size": choice,
        **{name: {"Type": "Pass", "Result": {"route": label}, "End": True}
           for name, label in targets.items()}}}
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(name="route", definition=json.dumps(definition),
                                       roleArn=f"arn:aws:iam::{ACCOUNT}:role/r")["stateMachineArn"]
        plan = {"to_fetch": to_fetch, "planned_bytes": planned_bytes, "ecs_threshold": threshold}
        execution = sfn.start_execution(stateMachineArn=arn,
                                        input=json.dumps({"plan": plan}))["executionArn"]
        for _ in range(400):
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["route"] == route == route_for(to_fetch, planned_bytes,
                                                                 threshold)


def test_upstream_text_reaches_slack_escaped(world: Callable[..., World]) -> None:
    """GIVEN a catalogue whose bottle URL carries a Slack mention and a forged link WHEN the
    machine runs THEN the failure naming that URL reaches Slack escaped: no <!channel>, no link
    but our own execution link."""
    w = world()
    entry = next(e for e in w.homebrew.catalogue if e["name"] == "jq")
    hostile = "https://evil.example/x?<!channel>&<https://evil.example|update brew>"
    entry["bottle"]["stable"]["files"]["x86_64_linux"]["url"] = hostile
    run = w.machine.run({})  # the entry is invalid: reported (InvalidEntry), the rest lands
    assert run.status == "SUCCEEDED", run
    assert run.output["report"]["failures"][0]["error"] == "InvalidEntry"
    [message] = w.slack.messages
    payload = json.dumps(message, ensure_ascii=False)
    assert "evil.example" in payload  # the failure is reported...
    assert "<!channel>" not in payload and "<https://evil.example" not in payload  # ...inert
    assert "&lt;!channel&gt;" in payload
    links = re.findall(r"<(https?://[^|>]+)\|", payload)
    assert links and all(link.startswith("https://us-east-1.console.aws.amazon.com/states/")
                         for link in links)
