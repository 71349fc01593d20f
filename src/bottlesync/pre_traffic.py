"""PreTraffic hook: try the new Plan sync and Mirror batch versions before traffic moves."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bottlesync.plan import new_run_id

SUCCEEDED, FAILED = "Succeeded", "Failed"
HOOK_FORMULAE = ("jq",)  # a tiny catalogue: one small formula and its dependencies
PLAN_KEYS = frozenset({"run_id", "selected", "planned", "planned_bytes", "to_fetch",
                       "ecs_threshold", "route"})
BATCH_KEYS = frozenset({"mirrored", "failed", "bytes"})

Invoke = Callable[[str, dict[str, Any]], tuple[dict[str, Any] | None, str | None]]


def plan_request() -> dict[str, Any]:
    """A dry run on a tiny catalogue: plans and records, fetches nothing."""
    return {"formulae": list(HOOK_FORMULAE), "dry_run": True}


def batch_request(sample: dict[str, Any], base: str, now: datetime) -> dict[str, Any]:
    """The events/ sample batch aimed at this stack's destination under a fresh run id."""
    event = copy.deepcopy(sample)
    event["BatchInput"].update(base=base, run_id=new_run_id(now))
    return event


def judge(name: str, output: dict[str, Any] | None, error: str | None,
          keys: frozenset[str]) -> str | None:
    """Why one invocation misbehaved (an error, or an output the ASL cannot read), or None."""
    if error is not None:
        return f"{name}: {error}"
    missing = sorted(keys - set(output or {}))
    return f"{name}: output lacks {', '.join(missing)}" if missing else None


def run_hook(invoke: Invoke, plan_arn: str, batch_arn: str, sample: dict[str, Any],
             base: str, now: datetime) -> tuple[str, list[str]]:
    """Both checks; the verdict CodeDeploy gets and the problems found."""
    problems = []
    output, error = invoke(plan_arn, plan_request())
    problems.append(judge("Plan sync", output, error, PLAN_KEYS))
    output, error = invoke(batch_arn, batch_request(sample, base, now))
    problems.append(judge("Mirror batch", output, error, BATCH_KEYS))
    found = [p for p in problems if p]
    return (FAILED if found else SUCCEEDED), found


def lambda_invoke(client: Any) -> Invoke:
    """Invoke a function version synchronously: (output, None) or (None, what went wrong)."""

    def call(arn: str, event: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        response = client.invoke(FunctionName=arn, Payload=json.dumps(event).encode())
        text = response["Payload"].read().decode("utf-8", "replace")
        if response.get("FunctionError"):
            return None, f"{response['FunctionError']}: {text[:500]}"
        try:
            data = json.loads(text)
        except ValueError:
            return None, f"output is not JSON: {text[:200]}"
        return (data, None) if isinstance(data, dict) else (None, "output is not an object")

    return call
