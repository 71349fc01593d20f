"""What one sync costs on AWS: an initial full sync and a typical daily delta.

    python -m bench.cost        # prints both estimates, line by line

The model itself (prices, assumptions, line items) is `bottlesync.cost`, the one Commit run uses
for its EstimatedCostUSD metric; this script feeds it the generator's bottle sizes.
"""

from __future__ import annotations

import random

from bench.generate import SEED, bottle_size
from bottlesync.cost import Estimate, estimate


def sizes(count: int, total: float | None = None, seed: int = SEED) -> list[int]:
    """Bottle sizes from the generator's law, optionally rescaled to `total` bytes."""
    rng = random.Random(seed + 9)
    drawn = [bottle_size(rng) for _ in range(count)]
    if total is None:
        return drawn
    factor = total / sum(drawn)
    return [max(1, int(s * factor)) for s in drawn]


def full_sync(bottles: int = 50_000) -> Estimate:
    """The first sync of a whole catalogue (~50k bottles)."""
    return estimate(sizes(bottles))


def daily_delta(bottles: int = 300, total: float = 3e9) -> Estimate:
    """A typical day: ~300 new bottles, ~3 GB."""
    return estimate(sizes(bottles, total))


def report(label: str, est: Estimate) -> str:
    """Line items, the total and the storage it adds."""
    lines = [f"{label}: {est.bottles} bottles, {est.gigabytes:.1f} GB, route {est.route}"]
    lines += [f"  {name:<28} ${value:9.4f}" for name, value in est.lines.items()]
    lines.append(f"  {'total per sync':<28} ${est.total:9.4f}  (target < $5)")
    lines.append(f"  {'S3 storage it adds':<28} ${est.storage_month:9.4f} per month")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report("initial full sync", full_sync()))
    print(report("daily delta", daily_delta()))
