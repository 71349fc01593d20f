"""Goal 2 of issue 13: a latency-bound sync against a serial mirror on the same slow fake.

The fake adds `latency` seconds to every request (catalogue, index, blob redirect, blob). The
baseline is what common mirror scripts do: one bottle at a time, fetch with the registry token,
follow the redirect without it, check the sha256, write the file (one kept-alive session). Ours
is `bottlesync sync` as installed, into a fresh local mirror. Both run as child processes, away
from the fake's threads, alternately in the same run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.process import installed_cli
from bottlesync.upstream import ANONYMOUS_TOKEN
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

TAGS = ("arm64_sequoia", "arm64_sonoma", "x86_64_linux")
LATENCY_GOAL = 10.0


class LatentHomebrew(FakeHomebrew):
    """The fake upstream, `latency` seconds slower on every request (each in its own thread)."""

    def __init__(self, formulae: list[FakeFormula], latency: float, workdir: Path) -> None:
        super().__init__(formulae, workdir=workdir)
        self.latency = latency

    def _handle(self, handler: Any) -> None:
        time.sleep(self.latency)
        super()._handle(handler)


def serial_mirror(source: str, dest: Path) -> dict[str, Any]:
    """The baseline client, run in a child: seconds, bottles and bytes it fetched and checked."""
    session = requests.Session()
    start = time.perf_counter()
    entries = session.get(source, timeout=60).json()
    count = size = 0
    for entry in entries:
        for info in entry["bottle"]["stable"]["files"].values():
            hop = session.get(info["url"], allow_redirects=False, timeout=60,
                              headers={"Authorization": f"Bearer {ANONYMOUS_TOKEN}"})
            body = session.get(hop.headers["Location"], timeout=60).content
            if hashlib.sha256(body).hexdigest() != info["sha256"]:
                raise SystemExit(f"serial baseline: {info['url']}: sha256 mismatch")
            (dest / info["sha256"]).write_bytes(body)
            count, size = count + 1, size + len(body)
    return {"seconds": time.perf_counter() - start, "bottles": count, "bytes": size}


@dataclass(frozen=True)
class LatencyFigures:
    """Best-of-N wall times of both clients, and what each fetched (with every run's time)."""

    ours: float
    serial: float
    counts: dict[str, Any]

    @property
    def worst(self) -> float:
        """Our slowest run: the spread a shared machine gives."""
        return max(self.counts["ours_s"])


def measure_latency(formulae: int, size: int, latency: float, repeat: int, out: Path
                    ) -> LatencyFigures:
    """`formulae` formulae of three `size`-byte bottles each behind a `latency`-slow fake."""
    fake_formulae = [FakeFormula(f"lat{i:04d}", "1.0", tags=TAGS, synthetic_size=size)
                     for i in range(formulae)]
    ours, serial, results = [], [], {}
    with LatentHomebrew(fake_formulae, latency, out / "upstream-latency") as fake:
        for _ in range(max(1, repeat)):
            dest = _fresh(out / "latency-serial")
            done = subprocess.run([sys.executable, "-m", "bench.latency", fake.source_url,
                                   str(dest)], check=True, capture_output=True, text=True,
                                  cwd=Path(__file__).resolve().parent.parent)
            result = json.loads(done.stdout)
            serial.append(result["seconds"])
            dest = _fresh(out / "latency-ours")
            argv = [installed_cli(), "sync", "--source", fake.source_url, "--dest", str(dest),
                    "--json", *(arg for tag in TAGS for arg in ("--tag", tag))]
            start = time.perf_counter()
            run = subprocess.run(argv, capture_output=True, text=True, cwd=dest.parent)
            ours.append(time.perf_counter() - start)
            report = json.loads(run.stdout)
            results = {"bottles": formulae * len(TAGS), "serial_bottles": result["bottles"],
                       "mirrored": report["mirrored"], "failed": report["failed"],
                       "code": run.returncode, "auth_leaks": len(fake.auth_leaks)}
    results.update(ours_s=[round(t, 3) for t in ours], serial_s=[round(t, 3) for t in serial])
    return LatencyFigures(min(ours), min(serial), results)


def _fresh(path: Path) -> Path:
    """An empty directory."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


if __name__ == "__main__":
    print(json.dumps(serial_mirror(sys.argv[1], Path(sys.argv[2]))))
