"""functions/weekly_digest: the schedule's {"digest": "weekly"} in, one e-mail on the low topic."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bottlesync.commit import record_key
from bottlesync.errors import InvalidInput
from tests.fakes.aws import BUCKET, REGION, create_topic, load_event, sent_emails

Invoke = Callable[[str, Any], Any]


@pytest.fixture
def low_topic(function_env: Callable[..., None]) -> str:
    """The low topic, named to the function as the template does."""
    arn = create_topic()
    function_env(LOW_TOPIC_ARN=arn, STACK_NAME="homebrew-bottles-sync-test")
    return arn


def test_the_sample_event_mails_the_weeks_runs(invoke: Invoke, low_topic: str) -> None:
    """GIVEN two runs this week in the bucket WHEN the shipped sample event arrives THEN one
    e-mail on the low topic with their count and cost, and the output says what was sent."""
    s3 = boto3.client("s3", region_name=REGION)
    now = datetime.now(UTC)
    for days, cost in ((1, 0.2), (2, 0.3)):
        rid = f"{now - timedelta(days=days):%Y%m%dT%H%M%SZ}-0000000{days}"
        s3.put_object(Bucket=BUCKET, Key=record_key(rid), Body=json.dumps(
            {"run_id": rid, "result": "SUCCEEDED", "mirrored": 3, "estimated_cost_usd": cost}))
    out = invoke("weekly_digest", load_event("weekly_digest"))
    assert (out["runs"], out["estimated_cost_usd"]) == (2, 0.5) and out["message_id"]
    [(subject, body)] = sent_emails(low_topic)
    assert subject == "homebrew-bottles-sync-test weekly: 2 runs, $0.50 estimated"
    assert "Bottles mirrored: 6, failed: 0" in body


def test_another_event_is_invalid_input_and_sends_nothing(invoke: Invoke,
                                                          low_topic: str) -> None:
    """GIVEN an event that is not the weekly digest's THEN InvalidInput and no e-mail."""
    with pytest.raises(InvalidInput):
        invoke("weekly_digest", {"apply": True})
    assert sent_emails(low_topic) == []
