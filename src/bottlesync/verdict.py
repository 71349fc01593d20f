"""Check results: whether a committed run is a success, and why not, in one named error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bottlesync.errors import (
    STORAGE_ERRORS,
    BatchCrashed,
    Failure,
    FailureRateExceeded,
    TaskFailed,
)

SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"
MAX_CAUSE = 1500


def readable_cause(cause: object, limit: int = MAX_CAUSE) -> str:
    """A Cause as a person reads it: Lambda's JSON as `Type: message`, a stopped task as why
    and how its containers exited; bounded."""
    text = str(cause or "")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "errorMessage" in data:
        text = f"{data.get('errorType', 'Error')}: {data['errorMessage']}"
    elif isinstance(data, dict) and isinstance(data.get("Containers"), list):
        text = _stopped_task(data)
    return text[:limit]


def _stopped_task(task: dict[str, Any]) -> str:
    """runTask.sync's Cause is the stopped task's description: say why and how it exited."""
    containers = [f"container {c.get('Name')} exit code {c.get('ExitCode')}"
                  + (f" ({c['Reason']})" if c.get("Reason") else "")
                  for c in task["Containers"] if isinstance(c, dict)]
    why = ": ".join(str(task[k]) for k in ("StopCode", "StoppedReason") if task.get(k))
    return "; ".join([f"task {task.get('TaskArn')} stopped ({why or 'no reason given'})",
                      *containers])


@dataclass(frozen=True)
class Verdict:
    """The run's result as Step Functions' "Check results" and the run record state it."""

    result: str
    error: str | None
    cause: str
    failure_rate: float
    storage_failures: int
    upstream_failures: int

    def to_json(self) -> dict[str, Any]:
        """Keys of Commit run's output and of the run record."""
        return {"result": self.result, "error": self.error, "cause": self.cause,
                "failure_rate": self.failure_rate, "storage_failures": self.storage_failures,
                "upstream_failures": self.upstream_failures}


def judge(failures: list[Failure], planned: int, mirrored: int, max_failure_rate: float,
          task_error: Mapping[str, Any] | None = None) -> Verdict:
    """FAILED on a failed task, a crashed batch, or a failure rate above the maximum (percent)."""
    bottles = [f for f in failures if f.error != "InvalidEntry"]
    crashed = sum(1 for f in bottles if f.error == "NoResult")
    storage = sum(1 for f in bottles if f.error in STORAGE_ERRORS)
    rate = round(100.0 * len(bottles) / planned, 3) if planned else 0.0
    counts = (f"planned {planned}, mirrored {mirrored}, failed {len(bottles)} ({rate:g} %; "
              f"storage {storage}, no result {crashed}), max {max_failure_rate:g} %")
    error: str | None = None
    if task_error is not None:
        error = TaskFailed.__name__
        why = readable_cause(task_error.get("Cause"), 600)
        cause = f"the Fargate task failed ({task_error.get('Error', 'error')}: {why}): {counts}"
    elif crashed:
        error = BatchCrashed.__name__
        cause = f"{crashed} planned bottle(s) have no result (a batch crashed): {counts}"
    elif rate > max_failure_rate:
        error = FailureRateExceeded.__name__
        cause = f"failure rate above the maximum: {counts}"
    else:
        cause = counts
    return Verdict(FAILED if error else SUCCEEDED, error, cause, rate, storage,
                   len(bottles) - storage)
