"""Goal 4 of issue 13 (and goal 6's idle month): what an initial sync of the whole catalogue
takes on Lambda and on Fargate, measured at reduced scale and extrapolated.

Measured: `bottlesync sync` (as installed, 8 workers: big bottles do not get extra ones) over a
sample of bottles behind the fake at 40 ms a request, their sizes drawn from the real law
(generate.bottle_size, median 2 MiB, mean ~7 MB) and scaled down so the bytes cost nothing
here: what remains is each bottle's request time per worker. Extrapolated to 50,000 bottles:
that time spread over the workers (and over the Distributed Map's concurrent batches on
Lambda), plus the real bytes over the link (1 Gbit/s for a Fargate task; bench.cost's per
invocation rate for Lambda). Prices are bench.cost's (`price_*` below are the functions the
shared cost model can later point at).
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cost import sizes
from bench.latency import LatentHomebrew
from bench.process import installed_cli
from bottlesync import cost  # the one price model (Commit run's EstimatedCostUSD uses it)
from tests.fakes.homebrew import FakeFormula

FULL_BOTTLES = 50_000
LATENCY = 0.040  # seconds added to every request
LINK_BYTES_PER_S = 125e6  # 1 Gbit/s, a Fargate task's link
WORKERS = 8  # config.yaml's concurrency: bottles of MiBs get no extra workers (pacing.py)
MAP_CONCURRENCY = 100  # config.yaml prod MapMaxConcurrency
SCALE_DOWN = 4096  # sample bytes = real bytes / SCALE_DOWN
TAG = "arm64_sequoia"
TARGET_S, TARGET_USD = 30 * 60, 5.0
RUNS_PER_IDLE_MONTH = 30 * 24 * 4  # every 15 minutes
# a run that ends on 304: the Plan function for ~1 s, a few transitions, 3 S3 requests
IDLE_304_GB_S, IDLE_304_TRANSITIONS, IDLE_304_GETS, IDLE_304_PUTS = 1.769 * 1, 4, 2, 1


@dataclass(frozen=True)
class Projection:
    """One route's extrapolated initial sync."""

    route: str
    seconds: float
    dollars: float


def measure_per_bottle(sample: int, out: Path) -> tuple[float, int]:
    """Seconds one worker spends per bottle (requests, checks, writes) behind the slow fake,
    and how many bottles the sample mirrored."""
    drawn = sizes(sample)
    formulae = [FakeFormula(f"est{i:05d}", "1.0", tags=(TAG,),
                            synthetic_size=max(1, size // SCALE_DOWN))
                for i, size in enumerate(drawn)]
    with LatentHomebrew(formulae, LATENCY, out / "upstream-estimate") as fake:
        dest = out / "estimate-mirror"
        subprocess.run(["rm", "-rf", str(dest)], check=True)
        argv = [installed_cli(), "sync", "--source", fake.source_url, "--dest", str(dest),
                "--json", "--tag", TAG, "--concurrency", str(WORKERS)]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    mirrored = int(json.loads(done.stdout)["mirrored"])
    # under 100 items the pool stays at WORKERS (pacing.MIN_BATCH), as for real bottles
    return seconds * min(WORKERS, sample) / max(1, mirrored), mirrored


def price_lambda(batch_seconds: list[float], total_bytes: int) -> float:
    """Dollars of an initial sync through the Distributed Map (bench.cost's prices)."""
    batches = len(batch_seconds)
    return (sum(batch_seconds) * cost.LAMBDA_MEMORY_GB * cost.LAMBDA_GB_SECOND
            + (cost.PLAN_GB_S + cost.COMMIT_GB_S) * cost.LAMBDA_GB_SECOND
            + (3 + batches) * cost.LAMBDA_REQUEST
            + (cost.OUTER_TRANSITIONS + batches * cost.CHILD_TRANSITIONS) * cost.SFN_TRANSITION
            + _s3_dollars(total_bytes, batches))


def price_fargate(seconds: float, total_bytes: int) -> float:
    """Dollars of an initial sync on one Fargate task (bench.cost's prices)."""
    hours = seconds / 3600
    return (hours * (cost.FARGATE_VCPU * cost.FARGATE_VCPU_HOUR
                     + cost.FARGATE_GB * cost.FARGATE_GB_HOUR)
            + (cost.PLAN_GB_S + cost.COMMIT_GB_S) * cost.LAMBDA_GB_SECOND
            + cost.OUTER_TRANSITIONS * cost.SFN_TRANSITION + _s3_dollars(total_bytes, 1))


def _s3_dollars(total_bytes: int, batches: int) -> float:
    """PUTs (multipart by part size) and GETs of a whole catalogue's bottles."""
    drawn = sizes(FULL_BOTTLES, total_bytes)
    return ((cost.put_requests(drawn) + 5 + batches) * cost.S3_PUT
            + (len(drawn) + 4 + 2 * batches) * cost.S3_GET)


def project(per_bottle: float) -> list[Projection]:
    """Both routes for FULL_BOTTLES of the real size law, from the measured per-bottle time."""
    drawn = sizes(FULL_BOTTLES)
    total = sum(drawn)
    batch_seconds = [
        len(chunk) * per_bottle / WORKERS + sum(chunk) / cost.LAMBDA_BYTES_PER_S
        for chunk in (drawn[i:i + cost.BATCH_ITEMS]
                      for i in range(0, len(drawn), cost.BATCH_ITEMS))]
    lam = sum(batch_seconds) / MAP_CONCURRENCY + max(batch_seconds)
    far = (cost.FARGATE_STARTUP_S + FULL_BOTTLES * per_bottle / WORKERS
           + total / min(LINK_BYTES_PER_S, cost.FARGATE_BYTES_PER_S * 4))
    return [Projection("lambda", lam, price_lambda(batch_seconds, total)),
            Projection("ecs", far, price_fargate(far, total))]


def price_idle_month(runs: int = RUNS_PER_IDLE_MONTH) -> tuple[float, float]:
    """Dollars of a month of 15-minute runs with nothing new: each ending on 304, and each a
    full plan (what a run costs without the conditional fetch)."""
    on_304 = (IDLE_304_GB_S * cost.LAMBDA_GB_SECOND + cost.LAMBDA_REQUEST
              + IDLE_304_TRANSITIONS * cost.SFN_TRANSITION + IDLE_304_GETS * cost.S3_GET
              + IDLE_304_PUTS * cost.S3_PUT)
    full_plan = (cost.PLAN_GB_S * cost.LAMBDA_GB_SECOND + 2 * cost.LAMBDA_REQUEST
                 + cost.OUTER_TRANSITIONS * cost.SFN_TRANSITION + 2 * cost.S3_GET
                 + 3 * cost.S3_PUT)
    return runs * on_304, runs * full_plan


def total_bytes() -> int:
    """Bytes of FULL_BOTTLES drawn from the real size law."""
    return sum(sizes(FULL_BOTTLES))


def hours(seconds: float) -> str:
    """'47 min' or '1.3 h'."""
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def ceil_batches() -> int:
    """Distributed Map batches of an initial sync."""
    return math.ceil(FULL_BOTTLES / cost.BATCH_ITEMS)
