"""bottlesync.messages: Block Kit content, and upstream text that cannot ping or forge links."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bottlesync.errors import InvalidInput
from bottlesync.messages import escape, execution_url, message_for, summary_message

HOSTILE = "<!channel> <https://evil.example|update brew> & <@U123>"
NOW = datetime(2026, 11, 28, 3, 30, tzinfo=UTC)


def report(**overrides: object) -> dict[str, object]:
    """A Commit run output."""
    return {"run_id": "20261128T030000Z-1a2b3c4d", "selected": 10, "present": 2, "mirrored": 8,
            "failed": 1, "planned_bytes": 3 << 20, "bytes": 3 << 20, "route": "lambda",
            "failures": [{"bottle": f"evil-1.0.{HOSTILE}.bottle.tar.gz", "error": "DigestMismatch",
                          "message": HOSTILE}], "failures_total": 1,
            "record_key": "runs/r.json", **overrides}


def test_escape_neutralises_mentions_links_and_entities() -> None:
    """&, < and > become entities, so Slack shows them instead of acting on them."""
    assert escape(HOSTILE) == ("&lt;!channel&gt; &lt;https://evil.example|update brew&gt; "
                               "&amp; &lt;@U123&gt;")


def test_no_upstream_text_reaches_slack_unescaped() -> None:
    """GIVEN a failure whose bottle name and message hold a mention and a link WHEN summarised
    THEN neither the text nor any block holds a raw `<` from them; the e-mail body keeps it."""
    message = summary_message(report(), "exec", 50)
    payload = json.dumps(message.slack_payload(), ensure_ascii=False)
    assert "<!channel>" not in payload and "<https://evil.example" not in payload
    assert "<@U123>" not in payload and "&lt;!channel&gt;" in payload
    assert HOSTILE in message.body


def test_only_our_own_execution_link_is_a_link() -> None:
    """A forged execution id gives no link; a real ARN gives the console page."""
    assert execution_url("<https://evil.example|x>") is None
    arn = "arn:aws:states:eu-west-1:123456789012:execution:m:abc"
    assert execution_url(arn) == ("https://eu-west-1.console.aws.amazon.com/states/home?"
                                  f"region=eu-west-1#/v2/executions/details/{arn}")
    message = summary_message(report(), "<https://evil.example|x>", 50)
    assert all("|Open the execution>" not in json.dumps(b) for b in message.blocks)


def test_a_failed_verdict_is_critical_and_says_why() -> None:
    """GIVEN Commit run's FAILED verdict WHEN summarised THEN critical, the error in the title
    and subject, the cause in the body."""
    message = summary_message(report(result="FAILED", error="FailureRateExceeded",
                                     cause="failure rate above the maximum: planned 10"), "e", 50)
    assert message.critical
    assert "FAILED: FailureRateExceeded" in message.body.splitlines()[0]
    assert message.subject == "bottlesync: run FAILED (FailureRateExceeded)"
    assert "planned 10" in message.body


def test_duration_comes_from_the_execution_start() -> None:
    """The Notify payload's `started` ($$.Execution.StartTime) gives the duration field."""
    message = message_for({"report": report(), "execution": "e",
                           "started": "2026-11-28T03:17:30.123Z"}, 50, NOW)
    assert message is not None
    assert {"type": "mrkdwn", "text": "*Duration*\n12 min 29 s"} in message.blocks[1]["fields"]


@pytest.mark.parametrize("event", [{"Records": "x"}, {"detail-type": "Other"}, {"report": 1}])
def test_unknown_shapes_are_invalid_input(event: dict[str, object]) -> None:
    """Anything that is none of the four shapes names what notify expected."""
    with pytest.raises(InvalidInput, match="neither a 'report' nor an 'error'"):
        message_for(event, 50, NOW)
