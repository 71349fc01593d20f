"""weekly_digest: seven days of run records added up, on a moto bucket, for the low topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bottlesync.commit import record_key
from bottlesync.errors import InvalidInput
from bottlesync.storage import S3Storage
from bottlesync.weekly_digest import check_request, digest_message, weekly_digest
from tests.unit.conftest import BUCKET

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
GIB = 1 << 30


def run_id(started: datetime, suffix: str) -> str:
    """A run id for a run that started at `started`."""
    return f"{started:%Y%m%dT%H%M%SZ}-{suffix}"


def put_record(s3: Any, rid: str, body: object) -> None:
    """A dated run record, as Commit run writes it (or a damaged one)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    s3.put_object(Bucket=BUCKET, Key=record_key(rid), Body=data)


@pytest.fixture
def week(s3: Any) -> S3Storage:
    """Three runs this week (one failed), one eight days ago, a hostile and a broken record."""
    runs = [(NOW - timedelta(days=6, hours=23), "0000000a", "SUCCEEDED", 10, 0, GIB, 0.5),
            (NOW - timedelta(days=3), "0000000b", "FAILED", 2, 4, GIB, 1.25),
            (NOW - timedelta(hours=1), "0000000c", "SUCCEEDED", 0, 0, 0, 0.01)]
    for started, suffix, result, mirrored, failed, size, cost in runs:
        put_record(s3, run_id(started, suffix), {
            "run_id": run_id(started, suffix), "result": result, "mirrored": mirrored,
            "failed": failed, "bytes": size, "estimated_cost_usd": cost, "route": "lambda"})
    put_record(s3, run_id(NOW - timedelta(days=8), "0000000d"), {
        "run_id": "old", "result": "SUCCEEDED", "mirrored": 99, "estimated_cost_usd": 99.0})
    put_record(s3, run_id(NOW - timedelta(days=2), "0000000e"), {
        "run_id": "<!channel>", "mirrored": "many", "bytes": -5,
        "estimated_cost_usd": float("inf"), "route": "nowhere"})
    put_record(s3, run_id(NOW - timedelta(days=1), "0000000f"), b"[not an object")
    s3.put_object(Bucket=BUCKET, Key=f"runs/{run_id(NOW - timedelta(days=1), 'a')}/plan.json",
                  Body=b"[]")
    return S3Storage(BUCKET, "", client=s3)


def test_the_week_is_added_up_and_older_runs_are_left_out(week: S3Storage) -> None:
    """GIVEN a week of records THEN counts, bytes and cost of the last seven days only; a
    non-numeric or infinite figure counts as nothing; a broken record is counted as unreadable."""
    digest = weekly_digest(week, NOW)
    assert (digest.runs, digest.failed_runs, digest.unreadable) == (4, 1, 1)
    assert (digest.mirrored, digest.failed_bottles, digest.bytes) == (12, 4, 2 * GIB)
    assert digest.cost_usd == pytest.approx(1.76)
    assert digest.costliest == (run_id(NOW - timedelta(days=3), "0000000b"), 1.25)
    assert digest.routes == {"lambda": 3}


def test_the_message_is_a_plain_summary(week: S3Storage) -> None:
    """GIVEN the week THEN a non-critical e-mail with the figures and a short subject."""
    message = digest_message(weekly_digest(week, NOW), "homebrew-bottles-sync-prod")
    assert not message.critical
    assert message.subject == "homebrew-bottles-sync-prod weekly: 4 runs, $1.76 estimated"
    assert "Runs: 4 (3 succeeded, 1 failed; routes: 3 lambda)" in message.body
    assert "Bottles mirrored: 12, failed: 4" in message.body
    assert "Downloaded: 2.0 GiB" in message.body
    assert "Estimated cost: $1.76" in message.body
    assert "skipped): 1" in message.body
    assert "2026-11-30 08:00 to 2026-12-07 08:00 UTC" in message.body


def test_an_empty_week_says_so(s3: Any) -> None:
    """GIVEN no record THEN zero runs, $0.00, and a hint to check the schedule."""
    message = digest_message(weekly_digest(S3Storage(BUCKET, "", client=s3), NOW), "stack")
    assert "Runs: 0" in message.body and "No run started this week" in message.body
    assert len(digest_message(weekly_digest(S3Storage(BUCKET, "", client=s3), NOW),
                              "s" * 300).subject) == 100


@pytest.mark.parametrize("event", [{}, {"digest": "daily"}, [], {"digest": "weekly", "x": 1}])
def test_only_the_weekly_event_is_accepted(event: object) -> None:
    """GIVEN another event THEN InvalidInput naming the expected one."""
    with pytest.raises(InvalidInput, match='"digest": "weekly"'):
        check_request(event)
    check_request({"digest": "weekly"})
