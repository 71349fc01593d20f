"""Notification messages: Slack Block Kit with upstream text escaped, and the e-mail text."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bottlesync.errors import InvalidInput
from bottlesync.units import human_bytes
from bottlesync.verdict import readable_cause

SHOWN_FAILURES = 5
MAX_SECTION = 2900  # Slack: a section's text is at most 3000 characters
EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:([a-z0-9-]+):[0-9]{12}:execution:[\w.:/-]+")
ALARM_ARN = re.compile(r"arn:aws[a-z-]*:cloudwatch:([a-z0-9-]+):[0-9]{12}:alarm:.+")
SEVERITIES = ("critical", "high", "medium", "low")
EXECUTION_EVENT = "Step Functions Execution Status Change"
ALARM_ICONS = {"ALARM": "🔴", "OK": "✅"}


def escape(text: object) -> str:
    """Slack's mrkdwn escaping: no <!channel>, no <url|forged link>, no entity tricks."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Message:
    """One notification: plain text (e-mail, Slack's fallback), Block Kit, the e-mail subject."""

    body: str
    subject: str
    critical: bool
    blocks: tuple[dict[str, Any], ...] = ()

    @property
    def text(self) -> str:
        """Slack's top-level text (notifications, screen readers): escaped like the blocks."""
        return escape(self.body)

    def slack_payload(self) -> dict[str, Any]:
        """Slack's incoming-webhook JSON."""
        return {"text": self.text, **({"blocks": list(self.blocks)} if self.blocks else {})}


def section(mrkdwn: str) -> dict[str, Any]:
    """A mrkdwn section block (callers escape what came from outside)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn[:MAX_SECTION]}}


def fields(pairs: dict[str, object]) -> dict[str, Any]:
    """A section of up to ten `*label*\\nvalue` fields; values are escaped."""
    return {"type": "section", "fields": [
        {"type": "mrkdwn", "text": f"*{label}*\n{escape(value)}"[:1900]}
        for label, value in list(pairs.items())[:10]]}


def link_block(url: str | None, label: str, note: str = "") -> list[dict[str, Any]]:
    """A context line with our own console link (built from a checked ARN), or nothing."""
    parts = [f"<{url}|{label}>"] if url else []
    if note:
        parts.append(escape(note))
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(parts)}]}
            ] if parts else []


def execution_url(arn: str) -> str | None:
    """The Step Functions console page of an execution ARN, or None when it is not one."""
    match = EXECUTION_ARN.fullmatch(arn)
    if not match:
        return None
    region = match.group(1)
    return (f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{quote(arn, safe=':')}")


def duration_text(seconds: float | None) -> str:
    """`12 min 5 s`, or `?` when unknown."""
    if seconds is None or seconds < 0:
        return "?"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _seconds_since(started: object, now: datetime) -> float | None:
    """Seconds from an ISO timestamp ($$.Execution.StartTime) to now, or None."""
    try:
        return (now - datetime.fromisoformat(str(started).replace("Z", "+00:00"))
                ).total_seconds()
    except ValueError:
        return None


def is_critical(report: dict[str, Any], threshold: int) -> bool:
    """A FAILED run, many bottle failures, or failures with nothing landed: page today.

    Invalid catalogue entries are upstream's mistakes, reported in Slack but never an e-mail;
    a bottle adopted or copied within the mirror landed as much as a downloaded one.
    """
    failed = int(report.get("failed", 0)) - int(report.get("invalid_entries", 0))
    landed = int(report.get("landed", report.get("mirrored", 0)))
    return (report.get("result") == "FAILED" or failed >= threshold
            or (failed > 0 and landed == 0))


def summary_message(report: dict[str, Any], execution: str, threshold: int,
                    seconds: float | None = None) -> Message:
    """The end-of-run summary from Commit run's output (FAILED when Check results will fail)."""
    failures = report.get("failures", [])
    total = int(report.get("failures_total", len(failures)))
    critical = is_critical(report, threshold)
    failed_run = report.get("result") == "FAILED"
    icon = "🚨" if critical else "✅" if not total else "⚠️"
    verdict = f" FAILED: {report.get('error')}" if failed_run else ""
    title = f"{icon} bottlesync run {report.get('run_id')} ({report.get('route')}){verdict}"
    counts = (f"selected {report.get('selected')}, present {report.get('present')}, "
              f"seeded {report.get('seeded', 0)}, mirrored {report.get('mirrored')}, "
              f"failed {report.get('failed')}")
    size = (f"bytes {human_bytes(int(report.get('bytes', 0)))} of "
            f"{human_bytes(int(report.get('planned_bytes', 0)))} planned")
    shown = [f"• {f.get('bottle')}: {f.get('error')}: {f.get('message')}"
             for f in failures[:SHOWN_FAILURES]]
    if total > SHOWN_FAILURES:
        shown.append(f"… and {total - SHOWN_FAILURES} more (see {report.get('record_key')})")
    cause = [str(report.get("cause"))] if failed_run else []
    body = "\n".join([title, counts, size, *cause, *shown, f"execution {execution}"])
    blocks = [section(f"*{escape(title)}*"),
              fields({"Result": report.get("result", "SUCCEEDED"), "Route": report.get("route"),
                      "Mirrored": report.get("mirrored"), "Failed": report.get("failed"),
                      "Selected / present / seeded": f"{report.get('selected')} / "
                                                     f"{report.get('present')} / "
                                                     f"{report.get('seeded', 0)}",
                      "Bytes": size.removeprefix("bytes "), "Duration": duration_text(seconds),
                      "Estimated cost": f"${float(report.get('estimated_cost_usd', 0)):.4f}"})]
    if cause or shown:
        blocks.append(section(escape("\n".join(cause + shown))))
    blocks += link_block(execution_url(execution), "Open the execution", execution)
    subject = (f"bottlesync: run FAILED ({report.get('error')})" if failed_run else
               f"bottlesync: {report.get('failed')} failed, {report.get('mirrored')} mirrored")
    return Message(body, subject[:100], critical, tuple(blocks))


def failure_message(error: dict[str, Any], execution: str, run_id: str | None) -> Message:
    """The message for an execution that a Catch sent to Notify failure."""
    name = str(error.get("Error", "Error"))
    title = f"🚨 bottlesync run {run_id or '(not planned)'} failed: {name}"
    cause = readable_cause(error.get("Cause"))
    blocks = (section(f"*{escape(title)}*"), section(escape(cause)),
              *link_block(execution_url(execution), "Open the execution", execution))
    return Message("\n".join([title, cause, f"execution {execution}"]),
                   f"bottlesync: execution failed ({name})"[:100], True, blocks)


def execution_event_message(event: dict[str, Any]) -> Message:
    """EventBridge's "Step Functions Execution Status Change" (TIMED_OUT, ABORTED...)."""
    given = event.get("detail")
    detail: dict[str, Any] = given if isinstance(given, dict) else {}
    status, arn = str(detail.get("status", "?")), str(detail.get("executionArn", "?"))
    title = f"🚨 bottlesync execution {detail.get('name', '?')} {status}"
    start, stop = detail.get("startDate"), detail.get("stopDate")
    took = (stop - start) / 1000 if isinstance(start, int) and isinstance(stop, int) else None
    cause = readable_cause(detail.get("cause")) if detail.get("cause") else ""
    lines = [title, *([f"{detail.get('error')}: {cause}"] if detail.get("error") else [])]
    blocks = (section(f"*{escape(title)}*"),
              fields({"Status": status, "Duration": duration_text(took),
                      "Error": detail.get("error") or "-"}),
              *([section(escape(lines[1]))] if len(lines) > 1 else []),
              *link_block(execution_url(arn), "Open the execution", arn))
    critical = status in ("FAILED", "TIMED_OUT", "ABORTED")
    return Message("\n".join([*lines, f"execution {arn}"]),
                   f"bottlesync: execution {status}"[:100], critical, blocks)


def alarm_message(record: dict[str, Any]) -> Message | None:
    """A CloudWatch alarm delivered by SNS, or None for anything else on the topic (such as
    our own e-mail): Slack only, since the topic already reached its e-mail subscribers."""
    given = record.get("Sns")
    sns: dict[str, Any] = given if isinstance(given, dict) else {}
    try:
        alarm = json.loads(str(sns.get("Message", "")))
    except ValueError:
        return None
    if not isinstance(alarm, dict) or not isinstance(alarm.get("AlarmName"), str):
        return None
    topic = str(sns.get("TopicArn", ""))
    severity = next((s for s in SEVERITIES if topic.endswith(f"-{s}") or f"-{s}-" in topic),
                    "alarm")
    state = str(alarm.get("NewStateValue", "?"))
    title = (f"{ALARM_ICONS.get(state, '❔')} [{severity}] {alarm['AlarmName']} is {state}")
    description = str(alarm.get("AlarmDescription") or "")
    reason = str(alarm.get("NewStateReason") or "")
    match = ALARM_ARN.fullmatch(str(alarm.get("AlarmArn", "")))
    url = (f"https://{match.group(1)}.console.aws.amazon.com/cloudwatch/home?region="
           f"{match.group(1)}#alarmsV2:alarm/{quote(alarm['AlarmName'], safe='')}"
           if match else None)
    blocks = (section(f"*{escape(title)}*"), section(escape(f"{description}\n{reason}")),
              *link_block(url, "Open the alarm", str(alarm.get("StateChangeTime", ""))))
    return Message("\n".join([title, description, reason]), title[:100], False, blocks)


def message_for(event: object, threshold: int, now: datetime) -> Message | None:
    """Notify's input as a message: a run report, a caught error, an execution event, or an
    alarm from SNS (None: an SNS message that is not an alarm, nothing to say)."""
    if not isinstance(event, dict):
        raise InvalidInput(f"notify: event must be a JSON object, not {type(event).__name__}")
    if isinstance(event.get("Records"), list) and len(event["Records"]) == 1:
        record = event["Records"][0]
        return alarm_message(record) if isinstance(record, dict) else None
    if event.get("detail-type") == EXECUTION_EVENT:
        return execution_event_message(event)
    execution = str(event.get("execution", "?"))
    if isinstance(event.get("error"), dict):
        given = event.get("input")
        plan = given.get("plan") if isinstance(given, dict) else None
        run_id = plan.get("run_id") if isinstance(plan, dict) else None
        return failure_message(event["error"], execution, run_id)
    if isinstance(event.get("report"), dict):
        seconds = _seconds_since(event["started"], now) if "started" in event else None
        return summary_message(event["report"], execution, threshold, seconds)
    raise InvalidInput("notify: event has neither a 'report' nor an 'error' object, nor is it "
                       "an execution event or an SNS alarm")


def progress_message(run_id: str, chunks: int, total: int, counts: dict[str, int]) -> Message:
    """The container's heartbeat: how far it is."""
    text = (f"⏳ bottlesync run {run_id} (ecs): chunk {chunks}/{total}, "
            f"mirrored {counts['mirrored']}, failed {counts['failed']}, "
            f"{human_bytes(counts['bytes'])}")
    return Message(text, "", critical=False)
