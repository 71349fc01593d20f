"""The weekly cost summary for the low topic: the last seven days' run records, added up."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bottlesync.errors import InvalidInput
from bottlesync.messages import Message
from bottlesync.records import RECORD_KEY_RE, iter_records
from bottlesync.storage import Storage
from bottlesync.units import human_bytes
from bottlesync.verdict import FAILED

WEEK = timedelta(days=7)
SUBJECT_LIMIT = 100  # SNS refuses a longer e-mail subject


@dataclass
class WeeklyDigest:
    """What a week of runs did and cost (every figure from the run records, none trusted)."""

    start: datetime
    end: datetime
    runs: int = 0
    failed_runs: int = 0
    mirrored: int = 0
    failed_bottles: int = 0
    bytes: int = 0
    cost_usd: float = 0.0
    costliest: tuple[str, float] | None = None
    unreadable: int = 0
    routes: dict[str, int] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        """Count one run record; a missing or non-numeric figure counts as nothing."""
        self.runs += 1
        self.failed_runs += record.get("result") == FAILED
        self.mirrored += _count(record.get("mirrored"))
        self.failed_bottles += _count(record.get("failed"))
        self.bytes += _count(record.get("bytes"))
        cost = _amount(record.get("estimated_cost_usd"))
        self.cost_usd += cost
        run_id = str(record.get("run_id", "?"))[:40]
        if cost > 0 and (self.costliest is None or cost > self.costliest[1]):
            self.costliest = (run_id, cost)
        route = record.get("route")
        if route in ("lambda", "ecs", "none"):
            self.routes[route] = self.routes.get(route, 0) + 1


def check_request(event: object) -> None:
    """The schedule's event is exactly {"digest": "weekly"}; anything else is InvalidInput."""
    if event != {"digest": "weekly"}:
        raise InvalidInput('weekly_digest: the event must be {"digest": "weekly"}')


def _count(value: object) -> int:
    """A non-negative integer figure, or 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _amount(value: object) -> float:
    """A finite, non-negative dollar figure, or 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def weekly_digest(storage: Storage, now: datetime) -> WeeklyDigest:
    """Add up the records of the runs that started in the seven days before `now` (UTC)."""
    digest = WeeklyDigest(start=now - WEEK, end=now)
    since = (now - WEEK).strftime("%Y%m%dT%H%M%SZ")
    until = now.strftime("%Y%m%dT%H%M%SZ")
    keys = []
    for back in range(WEEK.days + 1):  # one listing per day: never the runs' plans and fragments
        day = (now - timedelta(days=back)).strftime("runs/%Y/%m/%d/")
        for key in storage.list(day):
            match = RECORD_KEY_RE.fullmatch(key)
            if match and key.startswith(day) and since <= match["run_id"][:16] <= until:
                keys.append((match["run_id"], key))
    records = list(iter_records(storage, sorted(keys)))
    digest.unreadable = len(keys) - len(records)
    for record in records:
        digest.add(record)
    return digest


def digest_message(digest: WeeklyDigest, stack: str) -> Message:
    """A plain e-mail: the week, its runs, bottles, bytes and estimated cost."""
    week = f"{digest.start:%Y-%m-%d %H:%M} to {digest.end:%Y-%m-%d %H:%M} UTC"
    routes = ", ".join(f"{n} {route}" for route, n in sorted(digest.routes.items())) or "none"
    lines = [f"Weekly summary of {stack}, {week}",
             "",
             f"Runs: {digest.runs} ({digest.runs - digest.failed_runs} succeeded, "
             f"{digest.failed_runs} failed; routes: {routes})",
             f"Bottles mirrored: {digest.mirrored}, failed: {digest.failed_bottles}",
             f"Downloaded: {human_bytes(digest.bytes)}",
             f"Estimated cost: ${digest.cost_usd:.2f} (AWS list prices, as in each run record)"]
    if digest.costliest is not None:
        lines.append(f"Costliest run: {digest.costliest[0]} (${digest.costliest[1]:.2f})")
    if digest.unreadable:
        lines.append(f"Run records not readable as JSON objects (skipped): {digest.unreadable}")
    if digest.runs == 0:
        lines.append("No run started this week: check the schedule (ScheduleState).")
    subject = f"{stack} weekly: {digest.runs} runs, ${digest.cost_usd:.2f} estimated"
    return Message(body="\n".join(lines), subject=subject[:SUBJECT_LIMIT], critical=False)


def publish_digest(sns: Any, topic_arn: str, message: Message) -> str:
    """Publish the summary to the low topic (e-mail digest); the SNS message id."""
    response = sns.publish(TopicArn=topic_arn, Subject=message.subject, Message=message.body)
    return str(response["MessageId"])
