"""bottlesync.notify: message content, the webhook check, Slack retries and their bounds."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bottlesync.errors import ConfigError
from bottlesync.events import HandlerConfig
from bottlesync.messages import Message, failure_message, is_critical, summary_message
from bottlesync.notify import Notifier, webhook_url
from bottlesync.verdict import MAX_CAUSE
from tests.fakes.aws import AWS_ENV, REGION, create_slack_secret
from tests.fakes.slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A fake Slack webhook."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def notifier(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Notifier]]:
    """Build a Notifier whose Slack secret (in moto) is `url`; sleeps are recorded, not slept."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        def make(url: str, sleeps: list[float]) -> Notifier:
            config = HandlerConfig(slack_secret_arn=create_slack_secret(url))
            return Notifier(config, secrets=boto3.client("secretsmanager", region_name=REGION),
                            sleep=sleeps.append)

        yield make


def report(**overrides: Any) -> dict[str, Any]:
    """A Commit run output."""
    return {"run_id": "20261128T030000Z-1a2b3c4d", "selected": 10, "present": 2, "mirrored": 8,
            "failed": 0, "planned_bytes": 3 << 20, "bytes": 3 << 20, "route": "lambda",
            "failures": [], "failures_total": 0, "record_key": "runs/r.json", **overrides}


@pytest.mark.parametrize(("secret", "url"), [
    ("https://hooks.slack.com/services/T/B/X", "https://hooks.slack.com/services/T/B/X"),
    (' {"webhook_url": "https://hooks.slack.com/services/T/B/X"} ',
     "https://hooks.slack.com/services/T/B/X"),
    ("http://127.0.0.1:8080/services/T/B/X", "http://127.0.0.1:8080/services/T/B/X"),
])
def test_webhook_url_accepts_slack_and_loopback(secret: str, url: str) -> None:
    """A plain URL or the JSON form, on hooks.slack.com over https (or loopback for tests)."""
    assert webhook_url(secret) == url


@pytest.mark.parametrize("secret", ['{"url": "https://hooks.slack.com/x"}', "{not json",
                                    "https://HOOKS.slack.com.attacker.io/services/x",
                                    "ftp://hooks.slack.com/services/x", ""])
def test_webhook_url_refuses_without_echoing_the_secret(secret: str) -> None:
    """Anything else is a ConfigError whose message does not contain the secret."""
    with pytest.raises(ConfigError) as caught:
        webhook_url(secret)
    assert not secret or secret not in str(caught.value)


def test_summary_shows_the_first_failures_and_how_many_more() -> None:
    """Five failures are listed, the rest counted, with the run record to read them all."""
    failures = [{"bottle": f"b{i}", "error": "DigestMismatch", "message": "m"} for i in range(20)]
    message = summary_message(report(failed=30, failures=failures, failures_total=30), "exec", 50)
    assert "b4" in message.text and "b5" not in message.text
    assert "and 25 more (see runs/r.json)" in message.text
    assert message.critical is False and "execution exec" in message.text


def test_failure_message_keeps_a_plain_cause_and_truncates_it() -> None:
    """A Cause that is not Lambda JSON is shown as is, but bounded."""
    message = failure_message({"Error": "States.Timeout", "Cause": "x" * 5000}, "exec", None)
    assert message.critical and "(not planned) failed: States.Timeout" in message.text
    assert "x" * MAX_CAUSE in message.text and "x" * (MAX_CAUSE + 1) not in message.text


def test_retry_after_is_honoured_but_bounded(slack: FakeSlack,
                                             notifier: Callable[..., Notifier]) -> None:
    """GIVEN 429 with Retry-After 120 WHEN posting THEN it waits at most max_wait, then sends."""
    slack.fault_status(429, retry_after="120")
    sleeps: list[float] = []
    assert notifier(slack.webhook_url, sleeps).slack(Message("hi", "", False)) == "sent"
    assert sleeps == [5.0] and slack.messages == [{"text": "hi"}]  # no blocks: text only


def test_a_client_error_is_not_retried(slack: FakeSlack,
                                       notifier: Callable[..., Notifier]) -> None:
    """GIVEN Slack answering 404 (revoked webhook) WHEN posting THEN one attempt, 'failed'."""
    slack.fault_status(404)
    sleeps: list[float] = []
    assert notifier(slack.webhook_url, sleeps).slack(Message("hi", "", False)) == "failed"
    assert slack.attempts == 1 and sleeps == []


def test_an_unreachable_webhook_fails_after_bounded_attempts(
        caplog: pytest.LogCaptureFixture, notifier: Callable[..., Notifier]) -> None:
    """GIVEN nothing listening WHEN posting THEN three attempts, 'failed', URL not logged."""
    url = "http://127.0.0.1:9/services/T/B/SECRET"  # a privileged port nobody listens on
    sleeps: list[float] = []
    assert notifier(url, sleeps).slack(Message("hi", "", False)) == "failed"
    assert len(sleeps) == 2 and "SECRET" not in caplog.text and "ConnectionError" in caplog.text


def test_email_only_when_critical_and_configured() -> None:
    """No topic or not critical: skipped (no client call)."""
    quiet = Notifier(HandlerConfig(alert_topic_arn="arn:topic"), sns=None)
    assert quiet.email(Message("t", "s", critical=True)) == "skipped"
    assert Notifier(HandlerConfig()).email(Message("t", "s", critical=True)) == "skipped"
    assert json.dumps(Message("t", "s", False).slack_payload()) == '{"text": "t"}'


@pytest.mark.parametrize(("report", "critical"), [
    ({"failed": 3, "mirrored": 10, "invalid_entries": 3}, False),   # only upstream's bad entries
    ({"failed": 4, "mirrored": 10, "invalid_entries": 3}, False),   # one bottle failed, some landed
    ({"failed": 1, "mirrored": 0, "invalid_entries": 0}, True),     # nothing landed at all
    ({"failed": 1, "mirrored": 0, "landed": 0, "invalid_entries": 0}, True),
    ({"failed": 1, "mirrored": 0, "landed": 9, "invalid_entries": 0}, False),  # copied/adopted
    ({"failed": 5, "mirrored": 100, "invalid_entries": 0}, True),   # at the threshold
])
def test_invalid_catalogue_entries_alone_never_page_anyone(report: dict[str, int],
                                                           critical: bool) -> None:
    """GIVEN failures of which some are invalid entries THEN only bottle failures count."""
    assert is_critical(report, threshold=5) is critical
