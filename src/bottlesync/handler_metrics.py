"""The custom metrics each Lambda emits, shaped here so the handlers stay thin.

Units are Powertools' MetricUnit names as strings (Powertools accepts them), so the domain never
imports Powertools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from bottlesync.notify import FAILED

Metric = tuple[str, str, float]  # (name, unit name, value)
UNITS = ("Count", "Bytes", "Percent", "NoUnit")
COMMIT_COUNTS = (("BottlesCommitted", "mirrored"), ("RunFailures", "failures_total"),
                 ("StorageFailures", "storage_failures"),
                 ("UpstreamFailures", "upstream_failures"))


class MetricSink(Protocol):
    """Powertools' Metrics, as far as the shaping needs it."""

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        """Record one data point."""


def emit(sink: MetricSink, metrics: Iterable[Metric]) -> None:
    """Put shaped metrics into the handler's sink (one line per handler)."""
    for name, unit, value in metrics:
        sink.add_metric(name=name, unit=unit, value=value)


def commit_metrics(output: Mapping[str, Any], task_error: object) -> list[Metric]:
    """Commit run: counts, ECS task success, a stalled run, the failure rate and the cost."""
    found: list[Metric] = [(name, "Count", output[key]) for name, key in COMMIT_COUNTS]
    if output["route"] == "ecs":  # ECS task success rate: every task, and those that failed
        found += [("EcsTasks", "Count", 1),
                  ("EcsTasksFailed", "Count", int(task_error is not None))]
    stalled = output["mirrored"] == 0 and output["failures_total"] > output["invalid_entries"]
    return [*found, ("StalledRuns", "Count", int(stalled)),
            ("FailureRate", "Percent", output["failure_rate"]),
            ("EstimatedCostUSD", "NoUnit", output["estimated_cost_usd"])]


def mirror_metrics(output: Mapping[str, Any]) -> list[Metric]:
    """Mirror batch: what one batch mirrored and failed, and its bytes."""
    return [("BottlesMirrored", "Count", output["mirrored"]),
            ("BottlesFailed", "Count", output["failed"]),
            ("BytesMirrored", "Bytes", output["bytes"])]


def plan_metrics(output: Mapping[str, Any]) -> list[Metric]:
    """Plan sync: selected, planned, planned bytes and invalid catalogue entries."""
    return [("BottlesSelected", "Count", output["selected"]),
            ("BottlesPlanned", "Count", output["planned"]),
            ("PlannedBytes", "Bytes", output["planned_bytes"]),
            ("InvalidEntries", "Count", output["invalid"])]


def sync_outcome(event: object) -> str | None:
    """SyncSucceeded or SyncFailed for a run's own message; None for alarms and status events."""
    if not isinstance(event, dict):
        return None
    if "error" in event:
        return "SyncFailed"
    report = event.get("report")
    if isinstance(report, dict):
        return "SyncFailed" if report.get("result") == "FAILED" else "SyncSucceeded"
    return None


def notify_metrics(event: object, outcome: Mapping[str, Any]) -> list[Metric]:
    """Notify: the run's outcome and whether it was critical (run messages only), Slack failures."""
    name = sync_outcome(event)
    found: list[Metric] = []
    if name is not None:
        found += [(name, "Count", 1), ("CriticalRuns", "Count", int(outcome["critical"]))]
    return [*found, ("SlackFailures", "Count", int(outcome["slack"] == FAILED))]


def prune_metrics(applied: bool, bottles: int) -> list[Metric]:
    """Prune: bottles actually deleted (a dry run deletes none)."""
    return [("BottlesPruned", "Count", bottles if applied else 0)]


def hook_metrics(succeeded: bool) -> list[Metric]:
    """Pre-traffic hook: one failure per refused deployment."""
    return [("HookFailures", "Count", int(not succeeded))]
