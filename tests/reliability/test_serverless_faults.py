"""GIVEN faults, crashes, races and hostile input on the AWS paths WHEN the shipped state machine
runs in moto (tests/fakes/aws.py routes its Lambda and ECS calls to the real handlers and container)
THEN the execution ends as documented, nothing unverified is visible in the bucket, the manifest
matches the bucket, and a re-run converges without downloading any bottle twice.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from bottlesync import batch, commit
from bottlesync.errors import StorageError
from bottlesync.manifest import COMMIT_ATTEMPTS, MANIFEST_KEY, commit_entries
from bottlesync.storage import S3Storage
from tests.conftest import SMALL_CATALOGUE, is_index_key
from tests.fakes.aws import (
    ASL,
    BUCKET,
    REGION,
    LambdaContext,
    batch_for_fakes,
    list_keys,
    load_event,
    read_object,
    sent_emails,
)
from tests.fakes.homebrew import FakeFormula, FakeHomebrew
from tests.integration import test_state_machine as machine_tests
from tests.integration.test_state_machine import WGET_CLOSURE, World
from tests.reliability.conftest import catalogue_shas
from tests.reliability.test_fault_matrix import KINDS

world = machine_tests.world  # the deployed stack, shared with the integration tests
# bigger than one S3 part (storage.PART_SIZE): its upload is multipart, aborted unless verified
BIG = FakeFormula("bigdata", "2.0", payload_size=(8 << 20) + 4096)
EVERYTHING = (*(f.name for f in SMALL_CATALOGUE), BIG.name)
FAST = {"BOTTLESYNC_READ_TIMEOUT": "1.0"}  # < the 2 s stall fault; slack for a loaded machine


@pytest.fixture
def homebrew() -> Iterator[FakeHomebrew]:
    """The small catalogue plus one multipart-sized formula (overrides the shared fixture)."""
    with FakeHomebrew((*SMALL_CATALOGUE, BIG)) as fake:
        yield fake


def sha(data: bytes) -> str:
    """Hex sha256."""
    return hashlib.sha256(data).hexdigest()


def assert_bucket_consistent(w: World) -> dict[str, str]:
    """The mirror invariants on S3; returns file -> sha256 of the bottles visible.

    Every object under the bottle prefix hashes to the catalogue's sha256 (and its `sha256`
    metadata, which adoption trusts, says so too); every manifest entry's key exists with that
    sha256; no multipart upload is left incomplete.
    """
    s3 = boto3.client("s3", region_name=REGION)
    shas = catalogue_shas(w.homebrew)
    visible = {}
    for key in [k for k in list_keys("bottles/") if not is_index_key(k)]:
        file = key.removeprefix("bottles/")
        visible[file] = sha(read_object(key) or b"")
        assert visible[file] == shas.get(file), f"unverified bytes visible at {key}"
        assert s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["sha256"] == visible[file]
    bottles = w.manifest()["bottles"] if read_object(MANIFEST_KEY) else {}
    for file, entry in bottles.items():
        data = read_object(entry["key"])
        assert data is not None, f"manifest lists {file} but {entry['key']} is missing"
        assert sha(data) == entry["sha256"] == shas[file], f"manifest lies about {file}"
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    return visible


def failures_of(report: dict[str, Any]) -> dict[str, str]:
    """bottle -> error class of a Commit run report (small runs: nothing truncated)."""
    assert report["failures_total"] == len(report["failures"]) == report["failed"]
    return {f["bottle"]: f["error"] for f in report["failures"]}


def converge(w: World, names: tuple[str, ...], missing: set[str]) -> None:
    """A clean re-run downloads exactly `missing` (once each; whatever landed uncommitted is
    adopted after a metadata check) and leaves a full, consistent mirror."""
    w.homebrew.clear_faults()
    since = len(w.homebrew.requests)
    run = w.machine.run({"formulae": list(names)})
    assert run.status == "SUCCEEDED", run
    assert run.output["report"]["failed"] == 0
    # adopted bottles: no download. Digests, not requests: on a loaded machine a read timeout
    # may retry one of the missing ones, which is a second request but not a second bottle
    asked = {r.path.rpartition("sha256:")[2] for r in w.homebrew.requests[since:]
             if r.method == "GET" and r.host == "registry" and "/blobs/" in r.path}
    shas = catalogue_shas(w.homebrew)
    assert asked == {shas[file] for file in missing}
    w.assert_landed(names)
    assert set(assert_bucket_consistent(w)) >= set(w.wanted(names))


@pytest.mark.parametrize("seed", range(3))
def test_mixed_upstream_faults_during_the_map(world: Callable[..., World], seed: int) -> None:
    """GIVEN seeded faults of every kind on random bottles (and wrong bytes on a multipart one)
    WHEN the Map runs with a 100 % max_failure_rate THEN the execution succeeds, only faulted
    bottles fail (typed), the rest land verified, the manifest matches the bucket, no multipart
    upload is left, and a clean re-run downloads only the failed ones."""
    w = world(BOTTLESYNC_MAX_FAILURE_RATE="100", **FAST)
    rng = random.Random(seed)
    wanted = w.wanted(EVERYTHING)
    big = w.homebrew.file_name(BIG.name, "arm64_sequoia")
    victims = {big, *rng.sample(sorted(set(wanted) - {big}), 6)}
    # forever: a transient error on the first GET (a loaded machine) must not let it land
    w.homebrew.fault("wrong_bytes", match=w.homebrew.sha256(BIG.name, "arm64_sequoia"), times=-1)
    for file in sorted(victims - {big}):
        rng.choice(KINDS).inject(w.homebrew, *wanted[file], times=rng.choice([1, 2, -1]))
    run = w.machine.run({})
    assert run.status == "SUCCEEDED", run
    failed = failures_of(run.output["report"])
    assert big in failed and set(failed) <= victims
    assert set(failed.values()) <= {k.error for k in KINDS}
    assert run.output["report"]["mirrored"] == len(wanted) - len(failed)
    assert set(assert_bucket_consistent(w)) == set(wanted) - set(failed)
    assert set(w.manifest()["bottles"]) == set(wanted) - set(failed)
    converge(w, EVERYTHING, set(failed))


def crash_on(monkeypatch: pytest.MonkeyPatch, keys: set[str]) -> None:
    """Uploads of `keys` die one byte before their end (after every multipart part went up)
    with an error that is not ours: the Lambda crashes."""
    put_verified = S3Storage.put_verified

    def dying(key: str, chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
        sent = 0
        for chunk in chunks:
            if sent + len(chunk) >= size:
                raise MemoryError(f"Runtime.OutOfMemory while uploading {key}")
            sent += len(chunk)
            yield chunk

    def crashing(storage: S3Storage, key: str, chunks: Iterable[bytes], sha256: str,
                 size_hint: int | None = None) -> int:
        if key in keys and size_hint:
            chunks = dying(key, chunks, size_hint)
        return put_verified(storage, key, chunks, sha256, size_hint)

    monkeypatch.setattr(S3Storage, "put_verified", crashing)


def test_a_crashed_batch_is_tolerated_reported_as_noresult_and_rerun(
        world: Callable[..., World], monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN two Mirror batch invocations that crash (an unexpected exception) WHEN the Map runs
    THEN the Map tolerates them, Commit run reports their items as NoResult and commits the
    rest, Check results fails the execution (BatchCrashed), and a re-run lands the two."""
    w = world()
    names = (*WGET_CLOSURE, BIG.name)
    victims = {w.homebrew.file_name("libidn2", "x86_64_linux"),
               w.homebrew.file_name(BIG.name, "arm64_sequoia")}  # a multipart upload
    with monkeypatch.context() as patch:
        crash_on(patch, {f"bottles/{file}" for file in victims})
        run = w.machine.run({"formulae": ["wget", BIG.name]})
    assert (run.status, run.error) == ("FAILED", "BatchCrashed"), run
    [report] = [result for name, result in w.machine.results if name == "commit_run"]
    lost = {item["file"] for batch in w.machine.calls("mirror_batch")  # whole batches crashed
            if victims & {i["file"] for i in batch["Items"]} for item in batch["Items"]}
    assert failures_of(report) == dict.fromkeys(lost, "NoResult") and lost >= victims
    assert set(w.manifest()["bottles"]) == set(w.wanted(names)) - lost
    landed = set(assert_bucket_consistent(w))  # the crashed multipart upload was aborted
    assert not victims & landed
    assert all(file in w.slack.messages[-1]["text"] for file in victims)
    converge(w, names, set(w.wanted(names)) - landed)


def test_without_the_tolerance_a_crashed_batch_fails_the_execution(
        world: Callable[..., World], monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the Map without ToleratedFailurePercentage (a copy, never the shipped file) WHEN a
    batch crashes THEN the Map fails (the harness models AWS's threshold): the shipped 100.0 is
    what makes the crashed-batch test above succeed."""
    shipped = json.loads(ASL.read_text())["States"]["Mirror bottles"]
    assert shipped["ToleratedFailurePercentage"] == 100.0
    w = world()
    deployed = w.machine.sfn.describe_state_machine(stateMachineArn=w.machine.machine_arn)
    definition = json.loads(deployed["definition"])
    del definition["States"]["Mirror bottles"]["ToleratedFailurePercentage"]
    w.machine.machine_arn = w.machine.sfn.create_state_machine(
        name="bottlesync-intolerant", roleArn=deployed["roleArn"],
        definition=json.dumps(definition))["stateMachineArn"]
    crash_on(monkeypatch, {f"bottles/{w.homebrew.file_name('libidn2', 'x86_64_linux')}"})
    run = w.machine.run({"formulae": ["wget"]})
    assert (run.status, run.error) == ("FAILED", "SyncFailed")
    assert "States.ExceedToleratedFailureThreshold" in w.slack.messages[-1]["text"]


class Rival:
    """Another run committing its own entries to the manifest just before ours writes it."""

    def __init__(self, w: World, monkeypatch: pytest.MonkeyPatch, races: int) -> None:
        self.races = races
        self.busy = False
        storage = S3Storage(BUCKET, client=boto3.client("s3", region_name=REGION))
        self.entries = {}
        for name, tag in w.wanted(("jq",)).values():  # its bottles landed, verified, unlisted
            file, data = w.homebrew.file_name(name, tag), w.homebrew.blob(name, tag)
            storage.put_verified(f"bottles/{file}", [data], sha(data))
            self.entries[file] = {"sha256": sha(data), "size": len(data), "key": f"bottles/{file}",
                                  "synced_at": "2026-11-28T03:00:00Z", "run_id": "rival"}
        self.storage = storage
        put_if_match = S3Storage.put_if_match

        def racing(target: S3Storage, key: str, data: bytes, etag: str | None) -> str:
            if key == MANIFEST_KEY and self.races > 0 and not self.busy:
                self.races -= 1
                self.busy = True
                try:  # a distinct updated_at: identical bytes would keep the same ETag
                    commit_entries(self.storage, self.entries, now=f"rival-{self.races}")
                finally:
                    self.busy = False
            return put_if_match(target, key, data, etag)

        monkeypatch.setattr(S3Storage, "put_if_match", racing)


@pytest.mark.parametrize(("races", "invocations"), [(1, 1), (COMMIT_ATTEMPTS, 2)],
                         ids=["in-code-cas", "asl-retry"])
def test_commit_run_racing_a_concurrent_writer_keeps_both(
        world: Callable[..., World], monkeypatch: pytest.MonkeyPatch, races: int,
        invocations: int) -> None:
    """GIVEN another writer that commits between our read and our write of the manifest (once:
    the in-code CAS loop re-reads; on every attempt: ManifestConflict escapes and the ASL Retry
    runs Commit run again) THEN both writers' entries are in the manifest."""
    monkeypatch.setattr(commit, "time", SimpleNamespace(sleep=lambda _seconds: None))
    w = world()
    rival = Rival(w, monkeypatch, races)
    run = w.machine.run({"formulae": ["wget"]})
    assert run.status == "SUCCEEDED", run
    assert rival.races == 0 and len(w.machine.calls("commit_run")) == invocations
    assert set(w.manifest()["bottles"]) == set(w.wanted(WGET_CLOSURE)) | set(rival.entries)
    w.assert_landed((*WGET_CLOSURE, "jq"))
    assert_bucket_consistent(w)


def kill_container_at(monkeypatch: pytest.MonkeyPatch, chunk: int, exc: Exception) -> None:
    """The container's `chunk`-th mirror_items call raises `exc` (a crash or a storage outage)."""
    calls = [0]
    mirror_items = batch.mirror_items

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == chunk:
            raise exc
        return mirror_items(*args, **kwargs)

    monkeypatch.setattr(batch, "mirror_items", dying)


@pytest.mark.parametrize("exc", [RuntimeError("killed"), StorageError("s3 outage")],
                         ids=["crash-exit-1", "error-exit-1"])
def test_a_failed_fargate_task_notifies_failure_and_a_rerun_converges(
        world: Callable[..., World], monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    """GIVEN the Fargate route with faults mid-run and a container that dies at its third chunk
    WHEN the machine runs THEN the stopped task (exit 1) is States.TaskFailed, Commit run still
    commits what landed and writes the run record, Notify tells Slack and e-mail, the execution
    FAILS (TaskFailed) with nothing unverified visible; a re-run downloads only the rest."""
    w = world(BOTTLESYNC_ECS_THRESHOLD="1", **FAST)
    w.machine.batch_argv = ["--chunk-items", "2"]
    w.homebrew.fault("wrong_bytes", match=w.homebrew.sha256("wget", "arm64_sequoia"), times=-1)
    w.homebrew.fault("status", match=w.homebrew.sha256("wget", "x86_64_linux"), code=503)
    with monkeypatch.context() as patch:
        kill_container_at(patch, 3, exc)
        run = w.machine.run({"formulae": ["wget"]})
    assert (run.status, run.error) == ("FAILED", "TaskFailed")
    [(env, code, log)] = w.machine.task_runs
    assert code == 1 and str(exc) in log
    assert [name for name, _ in w.machine.invocations] == ["plan_sync", "commit_run", "notify"]
    [message] = w.slack.messages
    assert "States.TaskFailed" in message["text"] and env["BOTTLESYNC_RUN_ID"] in message["text"]
    assert "EssentialContainerExited" in message["text"]
    assert "container mirror exit code 1" in message["text"]
    [(subject, _body)] = sent_emails(w.topic)
    assert "TaskFailed" in (subject or "")
    landed = set(assert_bucket_consistent(w))
    assert set(w.manifest()["bottles"]) == landed  # committed: only verified bottles
    assert len(landed) == 3  # chunks 1-2: four bottles, one with wrong bytes
    converge(w, WGET_CLOSURE, set(w.wanted(WGET_CLOSURE)) - landed)


def tamper(item: dict[str, Any], batch_input: dict[str, Any], case: str) -> None:
    """Make one hostile change to a mirror_batch event (in place)."""
    file = item["file"]
    changes: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "key-escapes-prefix": ({"key": f"../{file}"}, {}),
        "key-dot-segment": ({"key": f"bottles/../{MANIFEST_KEY}"}, {}),
        "key-of-another-bottle": ({"key": "bottles/jq-1.7.1_2.arm64_sequoia.bottle.tar.gz"}, {}),
        "key-absolute": ({"key": f"/bottles/{file}"}, {}),
        "key-other-layout": ({"key": f"2026-11-28/{file}"}, {}),
        "dated-day-traversal": ({"key": f"../{file}"}, {"layout": "dated"}),
        "name-traversal": ({"name": "../../evil", "file": "x"}, {}),
        "base-other-bucket": ({}, {"base": "s3://someone-elses-bucket"}),
        "base-traversal": ({}, {"base": f"s3://{BUCKET}/../x"}),
        "run-id-traversal": ({}, {"run_id": "../../20261128T030000Z-1a2b3c4d"}),
        "run-id-suffix": ({}, {"run_id": "20261128T030000Z-1a2b3c4d/../.."}),
        "unknown-layout": ({}, {"layout": "../bottles"}),
    }
    item_change, input_change = changes[case]
    item.update(item_change)
    batch_input.update(input_change)


HOSTILE = ["key-escapes-prefix", "key-dot-segment", "key-of-another-bottle", "key-absolute",
           "key-other-layout", "dated-day-traversal", "name-traversal", "base-other-bucket",
           "base-traversal", "run-id-traversal", "run-id-suffix", "unknown-layout"]


@pytest.mark.parametrize("case", HOSTILE)
def test_a_tampered_mirror_batch_event_is_invalid_input_and_writes_nothing(
        world: Callable[..., World], case: str) -> None:
    """GIVEN a mirror_batch event with one hostile change WHEN the handler gets it THEN it raises
    InvalidInput (the errorType no Retry matches) before any download or write."""
    w = world()
    event = batch_for_fakes(load_event("mirror_batch"), w.homebrew)
    tamper(event["Items"][0], event["BatchInput"], case)
    with pytest.raises(Exception) as raised:
        w.machine.handlers["mirror_batch"](event, LambdaContext("MirrorBatchFunction"))
    assert type(raised.value).__name__ == "InvalidInput", raised.value
    assert list_keys() == [] and w.homebrew.count("blob") == 0


def test_a_plan_item_naming_another_host_is_refused_and_nothing_is_fetched(
        world: Callable[..., World]) -> None:
    """GIVEN a batch whose item's URL points to a host that is not allowed WHEN it runs THEN that
    bottle is a DisallowedURL result, no request leaves, only the fragment is written."""
    w = world()
    event = batch_for_fakes(load_event("mirror_batch"), w.homebrew)
    item = event["Items"][0]
    item["url"] = f"https://evil.example.net/v2/homebrew/core/{item['name']}/blobs/sha256:" + (
        item["sha256"])
    out = w.machine.handlers["mirror_batch"](event, LambdaContext("MirrorBatchFunction"))
    assert (out["mirrored"], out["failed"]) == (len(event["Items"]) - 1, 1)
    fragment = json.loads(read_object(out["fragment"]) or b"{}")
    assert fragment["results"][0]["error"] == "DisallowedURL"
    assert w.homebrew.count("blob") == len(event["Items"]) - 1
    assert list_keys() == sorted([out["fragment"], *(i["key"] for i in event["Items"][1:])])


def test_tampered_run_ids_and_plans_are_refused_by_commit_and_the_container(
        world: Callable[..., World]) -> None:
    """GIVEN a Commit run or container input naming a run outside the layout, or a plan.json
    edited to hold a key outside it WHEN they run THEN InvalidInput / exit 2, nothing written."""
    w = world()
    commit_handler = w.machine.handlers["commit_run"]
    for run_id in ("../../bottles_hash", "20261128T030000Z-1a2b3c4d/../x", None):
        with pytest.raises(Exception) as raised:
            commit_handler({"run_id": run_id}, LambdaContext("CommitRunFunction"))
        assert type(raised.value).__name__ == "InvalidInput"
    run_id = "20261128T030000Z-1a2b3c4d"
    item = batch_for_fakes(load_event("mirror_batch"), w.homebrew)["Items"][0]
    plan = f"runs/{run_id}/plan.json"
    S3Storage(BUCKET, client=boto3.client("s3", region_name=REGION)).put_bytes(
        plan, json.dumps([{**item, "key": f"../{item['file']}"}]).encode())
    for env in ({"BOTTLESYNC_RUN_ID": "../x", "BOTTLESYNC_PLAN_KEY": plan},
                {"BOTTLESYNC_RUN_ID": run_id, "BOTTLESYNC_PLAN_KEY": "bottles_hash.json"},
                {"BOTTLESYNC_RUN_ID": run_id, "BOTTLESYNC_PLAN_KEY": plan}):
        assert batch.main([], {**w.env, **env}) == batch.EXIT_INPUT
    assert list_keys() == [plan] and w.homebrew.count("blob") == 0


@pytest.mark.parametrize(("times", "status"), [(3, "SUCCEEDED"), (-1, "FAILED")])
def test_a_catalogue_outage_outlasting_the_lambda_is_retried_by_the_state_machine(
        world: Callable[..., World], times: int, status: str) -> None:
    """GIVEN the catalogue answering 503 to all three of Plan sync's own attempts WHEN the machine
    runs THEN the ASL Retry invokes Plan sync again and the run lands; an outage that outlasts
    the Retry too ends in Notify failure naming CatalogUnavailable."""
    w = world()
    w.homebrew.fault("status", "/api/formula.json", times, code=503)
    run = w.machine.run({"formulae": ["jq"]})
    assert run.status == status, run
    attempts = 2 if times > 0 else 1 + 3  # the ASL's MaxAttempts for Plan sync
    assert len(w.machine.calls("plan_sync")) == attempts
    assert w.homebrew.count("catalogue") == 3 * attempts - (2 if times > 0 else 0)
    if times > 0:
        w.assert_landed(("jq",))
    else:
        assert "CatalogUnavailable" in w.slack.messages[-1]["text"]
        assert list_keys() == []
