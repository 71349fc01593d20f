"""Notify: a Slack summary of each run, an SNS e-mail when critical; never leaks the webhook."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from bottlesync.errors import ConfigError, InvalidInput
from bottlesync.events import HandlerConfig
from bottlesync.units import human_bytes
from bottlesync.upstream import is_loopback, retry_after_seconds

log = logging.getLogger(__name__)
SLACK_HOST = "hooks.slack.com"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
SHOWN_FAILURES = 5
MAX_CAUSE = 1500
SENT, SKIPPED, FAILED = "sent", "skipped", "failed"


def webhook_url(secret: str) -> str:
    """The webhook URL from the secret (the URL or {"webhook_url": ...}), only if it is Slack's."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text)["webhook_url"]).strip()
        except (ValueError, KeyError, TypeError):
            raise ConfigError("Slack secret is JSON without a string 'webhook_url'") from None
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    slack = parts.scheme == "https" and host == SLACK_HOST
    local = parts.scheme in ("http", "https") and is_loopback(host)
    if not (slack or local) or parts.username or parts.password:
        # never echo the URL: it is the secret
        raise ConfigError(f"Slack webhook refused: it must be https://{SLACK_HOST}/...")
    return text


@dataclass(frozen=True)
class Message:
    """One notification: the Slack text, and the e-mail subject when it is critical."""

    text: str
    subject: str
    critical: bool

    def slack_payload(self) -> dict[str, Any]:
        """Slack's incoming-webhook JSON."""
        return {"text": self.text}


def is_critical(report: dict[str, Any], threshold: int) -> bool:
    """Many bottle failures, or failures with nothing landed: a person should look today.

    Invalid catalogue entries are upstream's mistakes, reported in Slack but never an e-mail.
    """
    failed = int(report.get("failed", 0)) - int(report.get("invalid_entries", 0))
    mirrored = int(report.get("mirrored", 0))
    return failed >= threshold or (failed > 0 and mirrored == 0)


def summary_message(report: dict[str, Any], execution: str, threshold: int) -> Message:
    """The end-of-run summary from Commit run's output."""
    failures = report.get("failures", [])
    total = int(report.get("failures_total", len(failures)))
    critical = is_critical(report, threshold)
    lines = [f"{'🚨' if critical else '✅' if not total else '⚠️'} bottlesync run "
             f"{report.get('run_id')} ({report.get('route')})",
             f"selected {report.get('selected')}, present {report.get('present')}, "
             f"mirrored {report.get('mirrored')}, failed {report.get('failed')}",
             f"bytes {human_bytes(int(report.get('bytes', 0)))} of "
             f"{human_bytes(int(report.get('planned_bytes', 0)))} planned"]
    lines += [f"• {f.get('bottle')}: {f.get('error')}: {f.get('message')}"
              for f in failures[:SHOWN_FAILURES]]
    if total > SHOWN_FAILURES:
        lines.append(f"… and {total - SHOWN_FAILURES} more (see {report.get('record_key')})")
    lines.append(f"execution {execution}")
    subject = f"bottlesync: {report.get('failed')} failed, {report.get('mirrored')} mirrored"
    return Message("\n".join(lines), subject, critical)


def _cause(cause: object) -> str:
    """A Lambda error's Cause is JSON {errorType, errorMessage, ...}: keep the readable part."""
    text = str(cause or "")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "errorMessage" in data:
        text = f"{data.get('errorType', 'Error')}: {data['errorMessage']}"
    elif isinstance(data, dict) and isinstance(data.get("Containers"), list):
        text = _stopped_task(data)
    return text[:MAX_CAUSE]


def _stopped_task(task: dict[str, Any]) -> str:
    """runTask.sync's Cause is the stopped task's description: say why and how it exited."""
    containers = [f"container {c.get('Name')} exit code {c.get('ExitCode')}"
                  + (f" ({c['Reason']})" if c.get("Reason") else "")
                  for c in task["Containers"] if isinstance(c, dict)]
    why = ": ".join(str(task[k]) for k in ("StopCode", "StoppedReason") if task.get(k))
    return "; ".join([f"task {task.get('TaskArn')} stopped ({why or 'no reason given'})",
                      *containers])


def failure_message(error: dict[str, Any], execution: str, run_id: str | None) -> Message:
    """The message for an execution that a Catch sent to Notify failure."""
    name = str(error.get("Error", "Error"))
    lines = [f"🚨 bottlesync run {run_id or '(not planned)'} failed: {name}",
             _cause(error.get("Cause")), f"execution {execution}"]
    return Message("\n".join(lines), f"bottlesync: execution failed ({name})"[:100], True)


def progress_message(run_id: str, chunks: int, total: int, counts: dict[str, int]) -> Message:
    """The container's heartbeat: how far it is."""
    text = (f"⏳ bottlesync run {run_id} (ecs): chunk {chunks}/{total}, "
            f"mirrored {counts['mirrored']}, failed {counts['failed']}, "
            f"{human_bytes(counts['bytes'])}")
    return Message(text, "", critical=False)


def message_for(event: object, threshold: int) -> Message:
    """Notify's input ({report, execution} or {error, execution, input}) as a message."""
    if not isinstance(event, dict):
        raise InvalidInput(f"notify: event must be a JSON object, not {type(event).__name__}")
    execution = str(event.get("execution", "?"))
    if isinstance(event.get("error"), dict):
        given = event.get("input")
        plan = given.get("plan") if isinstance(given, dict) else None
        run_id = plan.get("run_id") if isinstance(plan, dict) else None
        return failure_message(event["error"], execution, run_id)
    if isinstance(event.get("report"), dict):
        return summary_message(event["report"], execution, threshold)
    raise InvalidInput("notify: event has neither a 'report' nor an 'error' object")


class Notifier:
    """Sends messages: Slack (bounded retries; failures are logged, not raised) and SNS."""

    def __init__(self, config: HandlerConfig, *, secrets: Any = None, sns: Any = None,
                 attempts: int = 3, max_wait: float = 5.0, timeout: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.secrets = secrets
        self.sns = sns
        self.attempts = attempts
        self.max_wait = max_wait
        self.timeout = timeout
        self.sleep = sleep
        self._url: str | None = None

    @classmethod
    def from_config(cls, config: HandlerConfig) -> Notifier:
        """With real boto3 clients for the services the config names."""
        import boto3  # only the AWS edge of notifications needs boto3

        return cls(config,
                   secrets=boto3.client("secretsmanager") if config.slack_secret_arn else None,
                   sns=boto3.client("sns") if config.alert_topic_arn else None)

    def _webhook(self) -> str:
        """The webhook URL, read from Secrets Manager once per Notifier."""
        if self._url is None:
            secret = self.secrets.get_secret_value(SecretId=self.config.slack_secret_arn)
            self._url = webhook_url(secret.get("SecretString") or "")
        return self._url

    def slack(self, message: Message) -> str:
        """Post to Slack: 'sent', 'skipped' (not configured) or 'failed' (logged, not raised)."""
        if not self.config.slack_secret_arn or self.secrets is None:
            return SKIPPED
        try:
            url = self._webhook()
        except Exception as exc:  # a notification must never fail the run
            log.error("Slack webhook unavailable: %s", _no_url(exc))
            return FAILED
        body = json.dumps(message.slack_payload())
        for attempt in range(1, self.attempts + 1):
            wait = self._post(url, body)
            if wait is None:
                return SENT
            if wait < 0 or attempt == self.attempts:
                break
            self.sleep(wait)
        return FAILED

    def _post(self, url: str, body: str) -> float | None:
        """One POST: None when accepted, a delay when worth retrying, -1 when not."""
        try:
            response = requests.post(url, data=body, timeout=self.timeout, allow_redirects=False,
                                     headers={"Content-Type": "application/json"})
        except requests.RequestException as exc:
            log.warning("Slack webhook: %s", type(exc).__name__)  # str(exc) names the URL
            return 0.5
        with response:
            if response.status_code == 200:
                return None
            log.warning("Slack webhook answered %s", response.status_code)
            if response.status_code not in RETRY_STATUS:
                return -1
            after = retry_after_seconds(response.headers.get("Retry-After"))
            return min(self.max_wait, 1.0 if after is None else after)

    def email(self, message: Message) -> str:
        """Publish a critical message to the alert topic: 'sent' or 'skipped'."""
        if not message.critical or not self.config.alert_topic_arn or self.sns is None:
            return SKIPPED
        self.sns.publish(TopicArn=self.config.alert_topic_arn, Subject=message.subject[:100],
                         Message=message.text)
        return SENT


def _no_url(exc: BaseException) -> str:
    """An exception for the log without its text when that could hold the webhook URL."""
    return str(exc) if isinstance(exc, ConfigError) else type(exc).__name__


def notify(event: object, notifier: Notifier) -> dict[str, Any]:
    """Notify's whole job: Slack always, e-mail when critical; returns what it did."""
    message = message_for(event, notifier.config.critical_failures)
    return {"slack": notifier.slack(message), "email": notifier.email(message),
            "critical": message.critical}
