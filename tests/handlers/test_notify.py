"""functions/notify: Slack summary or error (webhook from Secrets Manager), SNS when critical."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from bottlesync.errors import InvalidInput
from tests.fakes.aws import REGION, create_slack_secret, create_topic, load_event, sent_emails
from tests.fakes.slack import FakeSlack

Invoke = Callable[[str, Any], Any]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A fake Slack webhook."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def topic(invoke: Invoke, slack: FakeSlack, function_env: Callable[..., None]) -> str:
    """Wire the functions to the fake webhook (JSON secret) and an alert topic."""
    arn = create_topic()
    function_env(SLACK_SECRET_ARN=create_slack_secret(slack.webhook_url), ALERT_TOPIC_ARN=arn)
    return arn


def test_summary_goes_to_slack_and_no_mail_when_not_critical(
        invoke: Invoke, slack: FakeSlack, topic: str) -> None:
    """GIVEN events/notify.json (52 mirrored, 1 failed) WHEN notified THEN Slack gets the run id,
    counts, bytes and the failure; no e-mail."""
    out = invoke("notify", load_event("notify"))
    assert out == {"slack": "sent", "email": "skipped", "critical": False}
    [message] = slack.messages
    text = message["text"]
    for part in ("20261128T030000Z-1a2b3c4d", "mirrored 52", "failed 1", "lambda",
                 "llvm-19.1.4.arm64_sequoia.bottle.tar.gz", "DigestMismatch", "831.0 MiB"):
        assert part in text
    assert sent_emails(topic) == []


def test_an_execution_error_is_critical(invoke: Invoke, slack: FakeSlack, topic: str) -> None:
    """GIVEN events/notify_failure.json WHEN notified THEN Slack and the alert topic both get the
    error class and message (not the raw Cause JSON) and the run id from the input's plan."""
    out = invoke("notify", load_event("notify_failure"))
    assert out == {"slack": "sent", "email": "sent", "critical": True}
    text = slack.messages[0]["text"]
    assert "ManifestConflict: s3://homebrew-bottles-mirror-prod/bottles_hash.json" in text
    assert "20261128T030000Z-1a2b3c4d" in text and "stackTrace" not in text
    [(subject, body)] = sent_emails(topic)
    assert subject == "bottlesync: execution failed (ManifestConflict)" and body == text


@pytest.mark.parametrize(("failed", "mirrored", "critical"),
                         [(3, 10, True), (2, 10, False), (1, 0, True), (0, 0, False)])
def test_critical_threshold_from_the_environment(
        invoke: Invoke, topic: str, function_env: Callable[..., None],
        failed: int, mirrored: int, critical: bool) -> None:
    """GIVEN CRITICAL_FAILURES=3 WHEN a report has `failed`/`mirrored` THEN e-mail iff critical."""
    function_env(CRITICAL_FAILURES="3")
    event = load_event("notify")
    event["report"].update(failed=failed, mirrored=mirrored, failures_total=failed)
    out = invoke("notify", event)
    assert out["critical"] is critical
    assert len(sent_emails(topic)) == int(critical)


def test_slack_5xx_and_429_are_retried(invoke: Invoke, slack: FakeSlack, topic: str) -> None:
    """GIVEN Slack answering 503 then 429 WHEN notified THEN the third attempt delivers."""
    slack.fault_status(503, retry_after="0")
    slack.fault_status(429, retry_after="0")
    out = invoke("notify", load_event("notify"))
    assert out["slack"] == "sent" and slack.attempts == 3 and len(slack.messages) == 1


def test_slack_down_does_not_fail_and_never_logs_the_webhook(
        invoke: Invoke, slack: FakeSlack, topic: str, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    """GIVEN Slack failing every time WHEN notified THEN a bounded number of attempts, 'failed'
    returned (the execution goes on) and the secret URL appears in no log line."""
    slack.fault_status(500, times=-1, retry_after="0")
    out = invoke("notify", load_event("notify"))
    assert out["slack"] == "failed" and slack.attempts == 3
    logs = capsys.readouterr().out + caplog.text
    assert "500" in logs and slack.webhook_url not in logs and "/services/" not in logs


@pytest.mark.parametrize("url", ["https://hooks.slack.com.evil.example/services/T/B/X",
                                 "http://hooks.slack.com/services/T/B/X",
                                 "https://evil.example/services/T000/B000/XXXXXXXX",
                                 "https://user:pw@hooks.slack.com/services/T/B/X",
                                 "not a url"])
def test_a_webhook_that_is_not_slack_is_refused(
        invoke: Invoke, function_env: Callable[..., None], url: str,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """GIVEN a secret naming another host or plain http WHEN notified THEN nothing is sent there,
    Slack is 'failed', and the URL is not logged."""
    function_env(SLACK_SECRET_ARN=create_slack_secret(url))
    out = invoke("notify", load_event("notify"))
    assert out["slack"] == "failed"
    logs = capsys.readouterr().out + caplog.text
    assert "refused" in logs and url not in logs


def test_a_plain_url_secret_works(invoke: Invoke, slack: FakeSlack,
                                  function_env: Callable[..., None]) -> None:
    """GIVEN a secret that is just the URL WHEN notified THEN Slack gets the message."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="plain", SecretString=slack.webhook_url)["ARN"]
    function_env(SLACK_SECRET_ARN=arn)
    assert invoke("notify", load_event("notify"))["slack"] == "sent"
    assert len(slack.messages) == 1


def test_unconfigured_channels_are_skipped(invoke: Invoke) -> None:
    """GIVEN no secret and no topic WHEN a failure is notified THEN both are skipped."""
    out = invoke("notify", load_event("notify_failure"))
    assert out == {"slack": "skipped", "email": "skipped", "critical": True}


def test_a_missing_secret_is_a_slack_failure(invoke: Invoke,
                                             function_env: Callable[..., None]) -> None:
    """GIVEN a secret ARN that does not exist WHEN notified THEN 'failed', no exception."""
    function_env(SLACK_SECRET_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:gone")
    assert invoke("notify", load_event("notify"))["slack"] == "failed"


@pytest.mark.parametrize("event", [{}, {"report": "x"}, [], {"error": "x", "execution": "e"}])
def test_an_event_without_report_or_error_is_invalid(invoke: Invoke, event: Any) -> None:
    """GIVEN neither a report nor an error object WHEN notified THEN InvalidInput."""
    with pytest.raises(InvalidInput):
        invoke("notify", json.loads(json.dumps(event)))


def test_an_alarm_from_sns_becomes_block_kit_without_mail(
        invoke: Invoke, slack: FakeSlack, topic: str) -> None:
    """GIVEN events/notify_alarm.json (the high topic delivering a CloudWatch alarm whose
    description holds <!channel>) WHEN notified THEN Slack gets exactly this Block Kit payload,
    escaped, with a link to the alarm; no e-mail (the topic already mailed it)."""
    out = invoke("notify", load_event("notify_alarm"))
    assert out == {"slack": "sent", "email": "skipped", "critical": False}
    [message] = slack.messages
    name = "homebrew-bottles-sync-prod-error-rate"
    title = f"🔴 [high] {name} is ALARM"
    reason = ("Threshold Crossed: 1 out of the last 1 datapoints [12.5 (28/11/26 03:05:00)] was "
              "greater than the threshold (5.0) (minimum 1 datapoint for OK -&gt; ALARM "
              "transition).")
    description = ("[high] error rate (failed / planned bottles) &gt; 5 % &lt;!channel&gt; see "
                   "the runbook: README, Operating")
    assert message == {
        "text": f"{title}\n{description}\n{reason}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{description}\n{reason}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                "<https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
                f"#alarmsV2:alarm/{name}|Open the alarm> · 2026-11-28T03:10:12.345+0000")}]}]}
    assert sent_emails(topic) == []


def test_an_execution_event_becomes_block_kit_and_mail(
        invoke: Invoke, slack: FakeSlack, topic: str) -> None:
    """GIVEN events/notify_execution.json (EventBridge: an execution TIMED_OUT, its cause with a
    forged link) WHEN notified THEN Slack gets this Block Kit payload (status, duration, error,
    escaped cause, execution link) and the alert topic an e-mail."""
    out = invoke("notify", load_event("notify_execution"))
    assert out == {"slack": "sent", "email": "sent", "critical": True}
    [message] = slack.messages
    arn = ("arn:aws:states:us-east-1:123456789012:execution:homebrew-bottles-sync-prod-mirror:"
           "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")
    title = "🚨 bottlesync execution a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d TIMED_OUT"
    cause = ("States.Timeout: The execution exceeded its TimeoutSeconds "
             "&lt;https://evil.example|click here&gt;")
    assert message["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*Status*\nTIMED_OUT"},
            {"type": "mrkdwn", "text": "*Duration*\n1440 min 0 s"},
            {"type": "mrkdwn", "text": "*Error*\nStates.Timeout"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": cause}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "<https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
            f"#/v2/executions/details/{arn}|Open the execution> · {arn}")}]}]
    assert message["text"] == f"{title}\n{cause}\nexecution {arn}"
    [(subject, body)] = sent_emails(topic)
    assert subject == "bottlesync: execution TIMED_OUT" and "<https://evil.example" in body


def test_a_run_summary_is_block_kit_with_every_figure(
        invoke: Invoke, slack: FakeSlack, topic: str) -> None:
    """GIVEN events/notify.json with a start time WHEN notified THEN the blocks carry result,
    route, counts, bytes, duration, cost, the first failure and the execution link."""
    event = load_event("notify")
    event["started"] = "2000-01-01T00:00:00Z"  # long ago: the duration is big, never '?'
    invoke("notify", event)
    [message] = slack.messages
    blocks = message["blocks"]
    labels = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in blocks[1]["fields"]}
    assert labels["*Result*"] == "SUCCEEDED" and labels["*Route*"] == "lambda"
    assert (labels["*Mirrored*"], labels["*Failed*"]) == ("52", "1")
    assert labels["*Bytes*"] == "831.0 MiB of 843.8 MiB planned"
    assert labels["*Duration*"].endswith(" s") and "min" in labels["*Duration*"]
    assert "llvm-19.1.4.arm64_sequoia.bottle.tar.gz: DigestMismatch" in blocks[2]["text"]["text"]
    assert "|Open the execution>" in blocks[3]["elements"][0]["text"]


def test_our_own_mail_echoed_by_a_topic_is_not_reposted(
        invoke: Invoke, slack: FakeSlack, topic: str) -> None:
    """GIVEN an SNS record that is not an alarm (a run e-mail the topic fans out to us too) WHEN
    notified THEN nothing is posted and nothing re-published (no loop)."""
    event = load_event("notify_alarm")
    event["Records"][0]["Sns"]["Message"] = "bottlesync run ... failed"
    assert invoke("notify", event) == {"slack": "skipped", "email": "skipped",
                                       "critical": False}
    assert slack.messages == [] and sent_emails(topic) == []
