"""bottlesync.batch: the Fargate entrypoint over a stored plan, its chunks, progress, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from moto import mock_aws

from bottlesync.batch import Heartbeat, main
from bottlesync.commit import commit_run
from bottlesync.plan import Plan, build_plan, plan_key, write_plan
from bottlesync.storage import LocalStorage
from bottlesync.upstream import Upstream
from tests.conftest import fast_settings
from tests.fakes.aws import AWS_ENV, create_slack_secret
from tests.fakes.homebrew import FakeHomebrew
from tests.fakes.slack import FakeSlack


@pytest.fixture
def planned(tmp_path: Path, homebrew: FakeHomebrew) -> tuple[Plan, dict[str, str]]:
    """A plan written to a local mirror, and the container environment naming it."""
    settings = fast_settings(homebrew.source_url, tmp_path / "mirror")
    storage = LocalStorage(tmp_path / "mirror")
    with Upstream(settings) as upstream:
        plan = build_plan(settings, upstream=upstream, storage=storage, now=datetime.now(UTC))
    write_plan(storage, plan)
    env = {**settings.to_env(), "BOTTLESYNC_RUN_ID": plan.run_id,
           "BOTTLESYNC_PLAN_KEY": plan_key(plan.run_id)}
    return plan, env


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """FakeSlack, its webhook in moto Secrets Manager."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with FakeSlack() as fake, mock_aws():
        yield fake


def test_mirrors_every_chunk_into_fragments_commit_can_merge(
        planned: tuple[Plan, dict[str, str]], tmp_path: Path, homebrew: FakeHomebrew,
        capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN a stored plan WHEN the container runs with chunks of 4 THEN exit 0, one fragment per
    chunk, and Commit run (the Lambda's code) records every bottle as mirrored."""
    plan, env = planned
    assert main(["--chunk-items", "4"], env) == 0
    storage = LocalStorage(tmp_path / "mirror")
    fragments = list(storage.list(f"runs/{plan.run_id}/results/"))
    assert len(fragments) == -(-len(plan.items) // 4)
    report = commit_run(storage, plan.run_id)
    assert (report.mirrored, report.failed) == (len(plan.items), 0)
    for item in plan.items:
        stored = storage.get(item.key)
        assert stored is not None
        assert stored.data == homebrew.blob(item.bottle.name, item.bottle.tag)
    assert f"mirrored {len(plan.items)}" in capsys.readouterr().out


def test_bottle_failures_are_results_and_exit_zero(
        planned: tuple[Plan, dict[str, str]], tmp_path: Path, homebrew: FakeHomebrew) -> None:
    """GIVEN one blob always corrupt WHEN the container runs THEN exit 0 and the failure is in a
    fragment (Commit run reports it)."""
    plan, env = planned
    bad = plan.items[0].bottle
    homebrew.fault("wrong_bytes", match=bad.sha256, times=-1)
    assert main([], env) == 0
    report = commit_run(LocalStorage(tmp_path / "mirror"), plan.run_id)
    assert [(f.bottle, f.error) for f in report.failures] == [(bad.file, "DigestMismatch")]


def test_progress_goes_to_slack_every_k_chunks(
        planned: tuple[Plan, dict[str, str]], slack: FakeSlack) -> None:
    """GIVEN K=2 and chunks of 2 WHEN the container runs THEN a progress message every second
    chunk (none after the last: Notify follows)."""
    plan, env = planned
    env = {**env, "SLACK_SECRET_ARN": create_slack_secret(slack.webhook_url)}
    assert main(["--chunk-items", "2", "--progress-every", "2"], env) == 0
    chunks = -(-len(plan.items) // 2)
    texts = [m["text"] for m in slack.messages]
    assert texts and len(texts) == (chunks - 1) // 2
    assert texts[0].startswith(f"⏳ bottlesync run {plan.run_id} (ecs): chunk 2/{chunks}")


@pytest.mark.parametrize(("change", "argv"), [
    ({"BOTTLESYNC_RUN_ID": "../../x"}, []),
    ({"BOTTLESYNC_RUN_ID": "20261128T030000Z-00000000",
      "BOTTLESYNC_PLAN_KEY": "runs/20261128T030000Z-00000000/plan.json"}, []),
    ({"BOTTLESYNC_PLAN_KEY": "bottles_hash.json"}, []),
    ({"BOTTLESYNC_CONCURRENCY": "many"}, []),
    ({"MAX_ITEMS_PER_BATCH": "0"}, []),
    ({}, ["--chunk-items", "0"]),
])
def test_bad_input_exits_2_and_downloads_nothing(
        planned: tuple[Plan, dict[str, str]], homebrew: FakeHomebrew,
        change: dict[str, str], argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN a wrong or unknown run, plan key, setting or flag WHEN started THEN exit 2 with an
    error on stderr, and nothing downloaded."""
    _plan, env = planned
    assert main(argv, {**env, **change}) == 2
    assert homebrew.count("blob") == 0
    assert "bottlesync.batch: error:" in capsys.readouterr().err


def test_an_unknown_flag_is_a_usage_error(planned: tuple[Plan, dict[str, str]]) -> None:
    """argparse's usage exit is 2 as well."""
    with pytest.raises(SystemExit) as caught:
        main(["--no-such-flag"], planned[1])
    assert caught.value.code == 2


def test_heartbeat_every_k_chunks_or_t_minutes() -> None:
    """Due every K chunks, or earlier when T minutes passed since the last message."""
    now = [0.0]
    beat = Heartbeat(every=3, minutes=1, clock=lambda: now[0])
    assert [beat.due() for _ in range(6)] == [False, False, True, False, False, True]
    now[0] = 61.0
    assert beat.due() is True
    assert beat.since == 0
