"""handler_metrics: the (name, unit, value) rows each Lambda emits, shaped in the domain."""

from __future__ import annotations

from typing import Any

from bottlesync.handler_metrics import (
    commit_metrics,
    emit,
    hook_metrics,
    mirror_metrics,
    notify_metrics,
    plan_metrics,
    prune_metrics,
    sync_outcome,
)
from bottlesync.notify import FAILED

COMMIT = {"mirrored": 3, "failures_total": 2, "storage_failures": 1, "upstream_failures": 1,
          "invalid_entries": 0, "failure_rate": 40.0, "estimated_cost_usd": 0.25,
          "route": "lambda"}


def test_commit_metrics_on_the_lambda_route() -> None:
    """GIVEN a Lambda-route run THEN counts, no ECS rows, not stalled, rate and cost."""
    rows = {name: (unit, value) for name, unit, value in commit_metrics(COMMIT, None)}
    assert rows == {"BottlesCommitted": ("Count", 3), "RunFailures": ("Count", 2),
                    "StorageFailures": ("Count", 1), "UpstreamFailures": ("Count", 1),
                    "StalledRuns": ("Count", 0), "FailureRate": ("Percent", 40.0),
                    "EstimatedCostUSD": ("NoUnit", 0.25)}


def test_commit_metrics_count_ecs_tasks_and_a_stalled_run() -> None:
    """GIVEN an ECS run that mirrored nothing and whose task failed THEN EcsTasksFailed 1 and
    StalledRuns 1; invalid entries alone never make a run stalled."""
    ecs = {**COMMIT, "route": "ecs", "mirrored": 0}
    rows = {name: value for name, _, value in commit_metrics(ecs, {"Error": "States.TaskFailed"})}
    assert (rows["EcsTasks"], rows["EcsTasksFailed"], rows["StalledRuns"]) == (1, 1, 1)
    only_invalid = {**ecs, "failures_total": 2, "invalid_entries": 2}
    rows = {name: value for name, _, value in commit_metrics(only_invalid, None)}
    assert (rows["EcsTasksFailed"], rows["StalledRuns"]) == (0, 0)


def test_batch_plan_prune_and_hook_metrics() -> None:
    """GIVEN each handler's output THEN its rows, with byte counts in Bytes."""
    assert mirror_metrics({"mirrored": 2, "failed": 1, "bytes": 9}) == [
        ("BottlesMirrored", "Count", 2), ("BottlesFailed", "Count", 1),
        ("BytesMirrored", "Bytes", 9)]
    assert plan_metrics({"selected": 5, "planned": 4, "planned_bytes": 99, "invalid": 1}) == [
        ("BottlesSelected", "Count", 5), ("BottlesPlanned", "Count", 4),
        ("PlannedBytes", "Bytes", 99), ("InvalidEntries", "Count", 1)]
    assert prune_metrics(True, 7) == [("BottlesPruned", "Count", 7)]
    assert prune_metrics(False, 7) == [("BottlesPruned", "Count", 0)]
    assert hook_metrics(True) == [("HookFailures", "Count", 0)]
    assert hook_metrics(False) == [("HookFailures", "Count", 1)]


def test_notify_metrics_name_the_run_outcome_only_for_run_messages() -> None:
    """GIVEN a failed run's message THEN SyncFailed and CriticalRuns; GIVEN an alarm THEN only
    SlackFailures."""
    failed = {"report": {"result": "FAILED"}}
    assert sync_outcome(failed) == "SyncFailed"
    assert sync_outcome({"report": {"result": "SUCCEEDED"}}) == "SyncSucceeded"
    assert sync_outcome({"error": "X"}) == "SyncFailed"
    assert sync_outcome("not a dict") is None
    assert notify_metrics(failed, {"critical": True, "slack": FAILED}) == [
        ("SyncFailed", "Count", 1), ("CriticalRuns", "Count", 1), ("SlackFailures", "Count", 1)]
    assert notify_metrics({"AlarmName": "a"}, {"critical": False, "slack": "sent"}) == [
        ("SlackFailures", "Count", 0)]


def test_emit_puts_every_row_into_the_sink() -> None:
    """GIVEN rows THEN the sink receives each as add_metric(name, unit, value)."""
    seen: list[tuple[str, Any, float]] = []

    class Sink:
        def add_metric(self, name: str, unit: Any, value: float) -> None:
            seen.append((name, unit, value))

    emit(Sink(), [("A", "Count", 1), ("B", "Bytes", 2)])
    assert seen == [("A", "Count", 1), ("B", "Bytes", 2)]
