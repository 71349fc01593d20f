"""Notify: a Slack summary of each run, an SNS e-mail when critical; never leaks the webhook."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from bottlesync.errors import ConfigError
from bottlesync.events import HandlerConfig
from bottlesync.messages import Message, message_for
from bottlesync.upstream import is_loopback, retry_after_seconds

log = logging.getLogger(__name__)
SLACK_HOST = "hooks.slack.com"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
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
                         Message=message.body)
        return SENT


def _no_url(exc: BaseException) -> str:
    """An exception for the log without its text when that could hold the webhook URL."""
    return str(exc) if isinstance(exc, ConfigError) else type(exc).__name__


def notify(event: object, notifier: Notifier, now: datetime | None = None) -> dict[str, Any]:
    """Notify's whole job: Slack always, e-mail when critical; returns what it did."""
    message = message_for(event, notifier.config.critical_failures, now or datetime.now(UTC))
    if message is None:  # an SNS message that is no alarm (our own e-mail): nothing to say
        return {"slack": SKIPPED, "email": SKIPPED, "critical": False}
    return {"slack": notifier.slack(message), "email": notifier.email(message),
            "critical": message.critical}
