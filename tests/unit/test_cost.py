"""bottlesync.cost: the per-sync cost model behind Commit run's EstimatedCostUSD metric."""

from __future__ import annotations

import pytest

from bottlesync import cost


def test_cost_model_splits_multipart_uploads() -> None:
    """A bottle under a part is one PUT; a bigger one is create + parts + complete."""
    part = cost.PART_SIZE
    assert cost.put_requests([1, part - 1]) == 2
    assert cost.put_requests([part]) == 3
    assert cost.put_requests([2 * part + 1]) == 5


@pytest.mark.parametrize(("sizes", "route"), [([], "none"), ([1, 2], "lambda"),
                                              ([cost.ECS_THRESHOLD - 1], "lambda"),
                                              ([cost.ECS_THRESHOLD], "ecs")])
def test_route_matches_route_by_size(sizes: list[int], route: str) -> None:
    """The model prices the route the state machine takes: >= the threshold is Fargate."""
    assert cost.route_of(sizes) == route == cost.estimate(sizes).route


def test_a_fargate_run_bills_task_hours_and_a_lambda_run_does_not() -> None:
    """Fargate line items only on the ecs route; the total is the sum of the lines."""
    sizes = [50 << 20] * 100
    on_lambda, on_ecs = cost.estimate(sizes, "lambda"), cost.estimate(sizes, "ecs")
    assert "Fargate vCPU-hours" not in on_lambda.lines
    assert on_ecs.lines["Fargate vCPU-hours"] > 0
    assert on_ecs.total == pytest.approx(sum(on_ecs.lines.values()))
    assert on_lambda.lines["Lambda requests"] > on_ecs.lines["Lambda requests"]  # 5 batches


def test_a_typical_day_costs_well_under_the_five_dollar_target() -> None:
    """300 bottles of 10 MB on Lambda: cents, not dollars (the KPI alarm fires at $10)."""
    assert 0 < cost.estimate([10_000_000] * 300).total < 0.05
