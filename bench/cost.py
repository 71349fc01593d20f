"""What one sync costs on AWS: an initial full sync and a typical daily delta.

    python -m bench.cost        # prints both estimates, line by line

List prices, us-east-1, x86, on-demand, no free tier, as published on the AWS pricing pages for
Lambda, Step Functions, S3 and Fargate (read 2026-11-28). Re-check them before relying on a figure.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from bench.generate import SEED, bottle_size
from bottlesync.storage import PART_SIZE

LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
SFN_TRANSITION = 0.025 / 1000  # Standard workflow; Distributed Map children run as Standard
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST (multipart create/part/complete each count)
S3_GET = 0.0004 / 1000  # GET, HEAD
S3_GB_MONTH = 0.023  # S3 Standard, first 50 TB
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
INGRESS_GB = 0.0  # data in from ghcr.io is free; Lambda/Fargate -> S3 in-region is free
GIB = 1 << 30
ECS_THRESHOLD = 20 * GIB  # config.yaml's ecs_threshold: plans this big go to Fargate

# Assumptions (conservative; the local benchmark moves ~10x more per core)
LAMBDA_MEMORY_GB = 1.0  # MirrorBatch
LAMBDA_BYTES_PER_S = 40e6  # per MirrorBatch invocation (ghcr.io -> S3, hashed on the way)
BATCH_ITEMS = 20  # ItemBatcher MaxItemsPerBatch
FARGATE_VCPU, FARGATE_GB = 2, 4
FARGATE_BYTES_PER_S = 80e6
FARGATE_STARTUP_S = 60
PLAN_GB_S = 1.769 * 4  # Plan sync: 1,769 MB (one vCPU) for ~4 s
COMMIT_GB_S = 1.0 * 3
OUTER_TRANSITIONS = 10  # Plan, Route, Map/Fargate, Commit, Notify, ...
CHILD_TRANSITIONS = 3  # per Distributed Map child execution: start, MirrorBatch, end


@dataclass
class Estimate:
    """Dollars per line item for one sync."""

    route: str
    bottles: int
    gigabytes: float
    lines: dict[str, float] = field(default_factory=dict)
    storage_month: float = 0.0  # what the bytes added cost per month afterwards: not per sync

    @property
    def total(self) -> float:
        """Dollars for the sync itself."""
        return sum(self.lines.values())


def sizes(count: int, total: float | None = None, seed: int = SEED) -> list[int]:
    """Bottle sizes from the generator's law, optionally rescaled to `total` bytes."""
    rng = random.Random(seed + 9)
    drawn = [bottle_size(rng) for _ in range(count)]
    if total is None:
        return drawn
    factor = total / sum(drawn)
    return [max(1, int(s * factor)) for s in drawn]


def put_requests(bottle_sizes: list[int]) -> int:
    """One PUT under a part size, else create + one per part + complete (S3Storage's rule)."""
    return sum(1 if s < PART_SIZE else 2 + math.ceil(s / PART_SIZE) for s in bottle_sizes)


def estimate(bottle_sizes: list[int]) -> Estimate:
    """Price one run that mirrors these bottles, routed as the state machine routes it."""
    total = sum(bottle_sizes)
    route = "ecs" if total >= ECS_THRESHOLD else "lambda"
    est = Estimate(route, len(bottle_sizes), total / 1e9)
    batches = math.ceil(len(bottle_sizes) / BATCH_ITEMS) if route == "lambda" else 0
    seconds = total / (LAMBDA_BYTES_PER_S if route == "lambda" else FARGATE_BYTES_PER_S)
    lambda_gb_s = PLAN_GB_S + COMMIT_GB_S
    if route == "lambda":
        lambda_gb_s += seconds * LAMBDA_MEMORY_GB
    else:
        hours = (seconds + FARGATE_STARTUP_S) / 3600
        est.lines["Fargate vCPU-hours"] = hours * FARGATE_VCPU * FARGATE_VCPU_HOUR
        est.lines["Fargate GB-hours"] = hours * FARGATE_GB * FARGATE_GB_HOUR
    est.lines["Lambda GB-seconds"] = lambda_gb_s * LAMBDA_GB_SECOND
    est.lines["Lambda requests"] = (3 + batches) * LAMBDA_REQUEST
    est.lines["Step Functions transitions"] = (OUTER_TRANSITIONS
                                               + batches * CHILD_TRANSITIONS) * SFN_TRANSITION
    # per bottle: the bottle's PUTs; per run: plan, summary, fragments, manifest, run record
    est.lines["S3 PUT/LIST"] = (put_requests(bottle_sizes) + 5 + max(batches, 1)) * S3_PUT
    # per bottle: a HEAD (already stored?); per run: manifest, plan reads, fragments
    est.lines["S3 GET/HEAD"] = (len(bottle_sizes) + 4 + 2 * max(batches, 1)) * S3_GET
    est.lines["data transfer in"] = est.gigabytes * INGRESS_GB
    est.storage_month = est.gigabytes * S3_GB_MONTH
    return est


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
