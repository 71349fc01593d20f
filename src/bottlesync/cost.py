"""What one sync costs on AWS: the model behind Commit run's EstimatedCostUSD metric.

List prices, us-east-1, on-demand, no free tier, as published on the AWS pricing pages for
Lambda, Step Functions, S3 and Fargate (read 2026-11-28). Re-check them before relying on a figure.
The throughput figures are conservative assumptions (the local benchmark moves ~10x more per core).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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


def put_requests(bottle_sizes: list[int]) -> int:
    """One PUT under a part size, else create + one per part + complete (S3Storage's rule)."""
    return sum(1 if s < PART_SIZE else 2 + math.ceil(s / PART_SIZE) for s in bottle_sizes)


def route_of(bottle_sizes: list[int], threshold: int = ECS_THRESHOLD) -> str:
    """The state machine's Route by size: none, ecs (>= threshold) or lambda."""
    if not bottle_sizes:
        return "none"
    return "ecs" if sum(bottle_sizes) >= threshold else "lambda"


def estimate(bottle_sizes: list[int], route: str | None = None,
             batch_items: int = BATCH_ITEMS) -> Estimate:
    """Price one run that mirrors these bottles on `route` (default: as Route by size does)."""
    total = sum(bottle_sizes)
    route = route or route_of(bottle_sizes)
    est = Estimate(route, len(bottle_sizes), total / 1e9)
    batches = math.ceil(len(bottle_sizes) / batch_items) if route == "lambda" else 0
    seconds = total / (FARGATE_BYTES_PER_S if route == "ecs" else LAMBDA_BYTES_PER_S)
    lambda_gb_s = PLAN_GB_S + COMMIT_GB_S
    if route == "ecs":
        hours = (seconds + FARGATE_STARTUP_S) / 3600
        est.lines["Fargate vCPU-hours"] = hours * FARGATE_VCPU * FARGATE_VCPU_HOUR
        est.lines["Fargate GB-hours"] = hours * FARGATE_GB * FARGATE_GB_HOUR
    else:
        lambda_gb_s += seconds * LAMBDA_MEMORY_GB
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
