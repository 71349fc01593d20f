"""bottlesync.verdict: what Check results decides from a committed run."""

from __future__ import annotations

import pytest

from bottlesync.errors import Failure
from bottlesync.verdict import FAILED, SUCCEEDED, judge


def failures(**counts: int) -> list[Failure]:
    """`n` failures of each error class named by the keywords."""
    return [Failure(f"{error}-{i}.bottle.tar.gz", error, "m") for error, n in counts.items()
            for i in range(n)]


@pytest.mark.parametrize(("failed", "result"), [(0, SUCCEEDED), (5, SUCCEEDED), (6, FAILED)])
def test_the_failure_rate_threshold_is_inclusive(failed: int, result: str) -> None:
    """5 of 100 is exactly 5 %: still a success; 6 is above it."""
    verdict = judge(failures(DigestMismatch=failed), 100, 100 - failed, 5.0)
    assert verdict.result == result
    assert verdict.error == (None if result == SUCCEEDED else "FailureRateExceeded")
    assert f"planned 100, mirrored {100 - failed}, failed {failed}" in verdict.cause


def test_invalid_entries_do_not_count_and_storage_is_counted_apart() -> None:
    """Upstream's invalid entries are not planned bottles; storage failures have their count."""
    verdict = judge(failures(InvalidEntry=50, StorageError=1, TransientUpstreamError=2), 100,
                    97, 5.0)
    assert (verdict.result, verdict.failure_rate) == (SUCCEEDED, 3.0)
    assert (verdict.storage_failures, verdict.upstream_failures) == (1, 2)


def test_a_crashed_batch_fails_even_under_the_rate() -> None:
    """One NoResult bottle means a batch died: FAILED whatever the rate allows."""
    verdict = judge(failures(NoResult=1), 1000, 999, 5.0)
    assert (verdict.result, verdict.error) == (FAILED, "BatchCrashed")
    assert verdict.cause.startswith("1 planned bottle(s) have no result")


def test_a_failed_task_wins_over_everything() -> None:
    """The Fargate task's failure is the named error, with the counts in the cause."""
    verdict = judge(failures(NoResult=3), 3, 0, 100.0, {"Error": "States.TaskFailed"})
    assert (verdict.result, verdict.error) == (FAILED, "TaskFailed")
    assert "States.TaskFailed" in verdict.cause and "planned 3, mirrored 0" in verdict.cause


def test_nothing_planned_is_a_success() -> None:
    """A no-op run (or a dry run) has no rate to exceed."""
    assert judge([], 0, 0, 0.0).to_json()["result"] == SUCCEEDED
