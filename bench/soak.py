"""`make soak`: thousands of bottles, a random fault on 5 % of them, and nothing may be lost.

    python -m bench.soak [--bottles 5000] [--fault-rate 0.05] [--seed 1] [--json]

A fake upstream (tests/fakes) serves `--bottles` small bottles; a seeded random 5 % of the bottles
and of the OCI indexes get one fault of a random kind (status 408/429/5xx with and without
Retry-After, reset, truncated, wrong bytes, wrong length, stall, HTML page, redirect loop,
redirect to a forbidden host, connection refused). A transient fault lasts 1 to 3 requests (it may
outlast a run's 3 attempts); any other kind fails the bottle for that run and lasts 1 or 2
requests. The first run plus at most two re-runs must mirror every bottle; the figures say how it
went. Exit 1 if anything is lost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bottlesync.config import Settings
from bottlesync.manifest import load_manifest
from bottlesync.storage import LocalStorage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from bottlesync.verify import check_mirror
from tests.fakes.homebrew import FakeFormula, FakeHomebrew, free_port_url

MAX_RERUNS = 2
TAGS = ("arm64_sequoia", "x86_64_linux")
ATTEMPTS = 3
# (kind, params, aimed at the registry request instead of the blob host's body)
FAULT_MIX: tuple[tuple[str, dict[str, Any], bool], ...] = (
    *(("status", {"code": code}, True) for code in (408, 429, 500, 502, 503, 504)),
    ("status", {"code": 429, "retry_after": 1}, True),
    ("status", {"code": 503, "retry_after": 3600}, False),
    ("reset", {}, False), ("truncate", {}, False), ("wrong_length", {}, False),
    ("stall", {"seconds": 2}, False), ("wrong_bytes", {}, False), ("html", {}, False),
    ("redirect_loop", {}, True), ("redirect_to", {"url": "https://evil.example.net/x"}, True),
    ("redirect_to", {"url": "<refused>"}, True),
)
TRANSIENT_KINDS = frozenset({"status", "reset", "truncate", "wrong_length", "stall"})


@dataclass
class Figures:
    """What the soak reports."""

    bottles: int
    fault_rate: float
    seed: int
    faults_planted: int = 0
    runs: int = 0
    reruns_needed: int = 0
    per_run: list[dict[str, int]] = field(default_factory=list)
    faults_injected: dict[str, int] = field(default_factory=dict)
    bottles_landed: int = 0
    bytes_verified: int = 0
    lost: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """Human figures, one per line."""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.faults_injected.items()))
        runs = "; ".join(f"run {i + 1}: mirrored {r['mirrored']}, failed {r['failed']}"
                         for i, r in enumerate(self.per_run))
        return [f"bottles             {self.bottles} (fault rate {self.fault_rate:.0%}, "
                f"seed {self.seed})",
                f"faults planted      {self.faults_planted}",
                f"faults injected     {sum(self.faults_injected.values())} ({kinds})",
                f"runs                {self.runs} ({runs})",
                f"re-runs needed      {self.reruns_needed}",
                f"bottles landed      {self.bottles_landed}",
                f"bytes verified      {self.bytes_verified}",
                f"lost                {self.lost}",
                f"wall time           {self.seconds:.1f} s"]


def formulae(bottles: int) -> list[FakeFormula]:
    """bottles/2 formulae with two tags each and every naming case (revision, rebuild, @, +)."""
    shapes = ("lib", "py", "go@1.", "x++", "tool-")
    return [FakeFormula(shapes[i % 5] + str(i), f"1.{i}.0", revision=i % 3, rebuild=i % 4 // 3,
                        tags=TAGS, payload_size=256) for i in range(max(1, bottles // 2))]


def plant_faults(homebrew: FakeHomebrew, rate: float, rng: random.Random) -> int:
    """Aim one random fault at a random `rate` of the bottles and of the OCI indexes."""
    planted = 0
    for entry in homebrew.catalogue:
        formula = homebrew.formula(entry["name"])
        if rng.random() < rate:
            homebrew.fault("status", f"/{formula.image}/manifests/", rng.randint(1, ATTEMPTS),
                           code=rng.choice((429, 502, 503)))
            planted += 1
        for tag in formula.tags:
            if rng.random() >= rate:
                continue
            kind, params, on_registry = rng.choice(FAULT_MIX)
            if params.get("url") == "<refused>":
                params = {"url": free_port_url() + "blob"}
            sha = homebrew.sha256(formula.name, tag)
            where = f"/{formula.image}" if on_registry else "/ghcr1"
            # a transient fault may outlast a run's attempts; any other one costs a run per request
            lasts = ATTEMPTS if kind in TRANSIENT_KINDS else MAX_RERUNS
            homebrew.fault(kind, f"{where}/blobs/sha256:{sha}", rng.randint(1, lasts), **params)
            planted += 1
    return planted


def soak(bottles: int, fault_rate: float, seed: int, dest: Path, concurrency: int = 8) -> Figures:
    """Run the soak into `dest`; the figures, with `lost` = bottles not stored and verified."""
    started = time.monotonic()
    figures = Figures(bottles=bottles, fault_rate=fault_rate, seed=seed)
    rng = random.Random(seed)
    with FakeHomebrew(formulae(bottles)) as homebrew:
        figures.faults_planted = plant_faults(homebrew, fault_rate, rng)
        settings = Settings.from_mapping(
            {"source": homebrew.source_url, "dest": str(dest), "tags": list(TAGS),
             "concurrency": concurrency, "attempts": ATTEMPTS, "backoff_base": 0.01,
             "max_retry_after": 0.2, "connect_timeout": 2, "read_timeout": 0.5}, "soak")
        storage = LocalStorage(dest)
        for run in range(1 + MAX_RERUNS):
            with Upstream(settings, rng=random.Random(seed + run)) as upstream:
                report = run_sync(settings, storage=storage, upstream=upstream)
            figures.runs = run + 1
            figures.per_run.append({"mirrored": report.mirrored, "failed": report.failed})
            if report.exit_code == 0:
                break
        figures.reruns_needed = figures.runs - 1
        figures.faults_injected = dict(homebrew.faults_served)
        expected = {homebrew.file_name(f.name, t): homebrew.sha256(f.name, t)
                    for f in formulae(bottles) for t in f.tags}
        figures.bottles_landed, figures.bytes_verified, figures.lost = _audit(dest, expected)
    figures.seconds = time.monotonic() - started
    return figures


def _audit(dest: Path, expected: dict[str, str]) -> tuple[int, int, int]:
    """(landed, bytes verified, lost): re-hash every expected bottle and check the manifest."""
    storage = LocalStorage(dest)
    manifest, _ = load_manifest(storage)
    landed = verified = 0
    for file, sha in expected.items():
        path = dest / "bottles" / file
        data = path.read_bytes() if path.is_file() else b""
        if hashlib.sha256(data).hexdigest() == sha and manifest.has(file, sha):
            landed += 1
            verified += len(data)
    broken = check_mirror(storage, 8)
    lost = len(expected) - landed + len(broken.missing) + len(broken.corrupt)
    return landed, verified, lost


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Per-bottle warnings off while soaking (failures show in the figures), restored after."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its figures; exit 1 if anything was lost or needed > 2 re-runs."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--bottles", type=int, default=5000)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with _quiet("bottlesync"), tempfile.TemporaryDirectory(prefix="bottlesync-soak-") as tmp:
        figures = soak(args.bottles, args.fault_rate, args.seed, Path(tmp) / "mirror",
                       args.concurrency)
    print(json.dumps(asdict(figures), indent=1) if args.json else "\n".join(figures.lines()))
    converged = figures.lost == 0 and figures.per_run[-1]["failed"] == 0
    return 0 if converged else 1


if __name__ == "__main__":
    sys.exit(main())
