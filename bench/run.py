"""`make bench`: each benchmark next to its baseline on the same data, and a table of the two.

    python -m bench.run [--scale full|smoke] [--only plan,transfer,...] [--out bench/out]

Figures are best-of-N wall times on this machine; nothing here is asserted in the test suite
except that it runs and that the counts are right (tests/bench).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cost, estimate, generate, latency, process
from bench.mirror_child import PARALLEL
from bottlesync.config import Settings
from bottlesync.manifest import MANIFEST_KEY, Manifest
from bottlesync.plan import build_plan, write_plan
from bottlesync.storage import LocalStorage, S3Storage, Storage
from bottlesync.sync import run_sync
from bottlesync.upstream import ANONYMOUS_TOKEN, Upstream
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

MIB = 1 << 20
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
BENCH_TAG = "arm64_sequoia"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scale:
    """Sizes of every benchmark (full: the issue's numbers; smoke: seconds, for CI)."""

    formulae: int
    manifest_entries: int
    missing: int
    transfer: tuple[int, int]  # bottles, bytes each
    small: tuple[int, int]
    memory_size: int
    s3: tuple[int, int]
    repeat: int
    latency: tuple[int, int, float] = (100, 60_000, 0.040)  # formulae (x3 tags), bytes, s/req
    estimate_sample: int = 96  # bottles of the reduced-scale full-sync estimate
    judged: bool = True  # goals are judged at full scale only; smoke checks that it all runs


FULL = Scale(formulae=generate.FORMULAE, manifest_entries=generate.MANIFEST_ENTRIES,
             missing=generate.MISSING_FORMULAE, transfer=(64, 16 * MIB), small=(5_000, 16 << 10),
             memory_size=2 << 30, s3=(16, 16 * MIB), repeat=3)
SMOKE = Scale(formulae=60, manifest_entries=400, missing=3, transfer=(4, 64 << 10),
              small=(20, 16 << 10), memory_size=9 * MIB, s3=(2, 9 * MIB), repeat=1,
              latency=(5, 60_000, 0.005), estimate_sample=8, judged=False)


@dataclass
class Row:
    """One line of the table; `counts` are what the smoke test checks."""

    name: str
    figure: str
    baseline: str
    ratio: float | None
    goal: str
    met: bool | None
    counts: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    timed: bool = True  # a figure judged at full scale only (False: a correctness check)
    gate: bool = True  # False: a target reported beside the figure, never failing the run

    def cells(self) -> list[str]:
        """The printed columns."""
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}"
        met = {True: "yes", False: "NO" if self.gate else "no (target)", None: "-"}[self.met]
        return [self.name, self.figure, self.baseline, ratio, self.goal, met]


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest wall time over `repeat` runs, and the last run's result."""
    times, result = [], None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def settings_for(fake: FakeHomebrew, dest: Path, tags: tuple[str, ...]) -> Settings:
    """Production defaults, pointed at the fake; retries bounded so a fault cannot hang a run."""
    return Settings(source=fake.source_url, dest=str(dest), tags=tags, concurrency=PARALLEL,
                    attempts=3, backoff_base=0.0, max_retry_after=0.1)


def fresh(path: Path) -> Path:
    """An empty directory."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def fake_of(formulae: list[generate.GenFormula]) -> list[FakeFormula]:
    """The fake's view of generated formulae (so it answers their OCI indexes)."""
    return [FakeFormula(f.name, f.version, revision=f.revision, rebuild=f.rebuild, tags=f.tags,
                        payload_size=16) for f in formulae]


@contextmanager
def catalogue_upstream(scale: Scale, out: Path, missing_count: int
                       ) -> Iterator[tuple[FakeHomebrew, LocalStorage, list[generate.GenFormula],
                                           list[generate.GenFormula]]]:
    """The generated catalogue served by the fake, and a mirror whose manifest has the rest."""
    formulae = generate.generate(scale.formulae)
    missing = generate.missing_formulae(formulae, missing_count)
    doc = generate.manifest_doc(formulae, missing, scale.manifest_entries)
    with FakeHomebrew(fake_of(missing), workdir=out / "upstream-plan") as fake:
        fake.raw_catalogue = generate.catalogue_bytes(formulae, fake.root_url)
        storage = LocalStorage(fresh(out / f"mirror-plan-{missing_count}"))
        storage.put_bytes(MANIFEST_KEY, Manifest(doc["bottles"], doc["updated_at"]).to_bytes())
        yield fake, storage, formulae, missing


def bench_plan(scale: Scale, out: Path) -> Row:
    """build_plan over the full catalogue and a 45k-entry manifest vs json.loads of the file."""
    with catalogue_upstream(scale, out, scale.missing) as (fake, storage, formulae, missing):
        raw = fake.raw_catalogue or b""
        settings = settings_for(fake, Path(storage.base), generate.TAGS)
        baseline, _ = best(scale.repeat, lambda: json.loads(raw))
        with Upstream(settings) as upstream:
            seconds, plan = best(scale.repeat, lambda: build_plan(
                settings, upstream=upstream, storage=storage, now=NOW))
        counts = {"selected": plan.selected, "bottles": generate.bottle_count(formulae),
                  "planned": len(plan.items), "missing": generate.bottle_count(missing),
                  "unknown_sizes": plan.summary()["unknown_sizes"], "invalid": len(plan.invalid),
                  "catalogue_mb": round(len(raw) / 1e6, 1)}
    ratio = seconds / baseline
    return Row("plan (load+validate+select+diff)", f"{seconds:.3f} s", f"{baseline:.3f} s "
               "json.loads", ratio, "ratio <= 2.0", ratio <= 2.0, counts)


def bench_noop(scale: Scale, out: Path, plan_seconds: float | None) -> Row:
    """A re-sync with everything present: no bottle or index request, close to the plan time."""
    with catalogue_upstream(scale, out, 0) as (fake, storage, formulae, _):
        settings = settings_for(fake, Path(storage.base), generate.TAGS)
        with Upstream(settings) as upstream:
            seconds, report = best(scale.repeat, lambda: run_sync(
                settings, storage=storage, upstream=upstream))
        counts = {"selected": report.selected, "present": report.present,
                  "bottles": generate.bottle_count(formulae), "mirrored": report.mirrored,
                  "bottle_requests": fake.count("blob") + fake.count("blob_host"),
                  "index_requests": fake.count("manifest")}
    ratio = seconds / plan_seconds if plan_seconds else None
    met = counts["bottle_requests"] == 0 and (ratio is None or ratio <= 1.3)
    baseline = f"{plan_seconds:.3f} s plan" if plan_seconds else "-"
    return Row("no-op re-sync", f"{seconds:.3f} s, {counts['bottle_requests']} bottle req",
               baseline, ratio, "0 req, <= 1.3x plan", met, counts)


def bench_noop_process(scale: Scale, out: Path) -> list[Row]:
    """Goal 1: the whole `bottlesync sync` no-op process vs a `json.loads` process; peak RSS."""
    fig = process.measure_noop(scale.formulae, scale.manifest_entries,
                               process.ALTERNATIONS if scale.judged else 1, out)
    counts = {"codes": list(fig.codes), "manifest_rewritten": fig.manifest_rewritten,
              "compiled": fig.compiled, "bottles": fig.bottles, "catalogue_mb": fig.catalogue_mb}
    clean = not fig.manifest_rewritten and not any(fig.codes)
    ratio = fig.noop.seconds / fig.baseline.seconds
    return [
        Row("no-op process (CLI as installed)", f"{fig.noop.seconds:.3f} s",
            f"{fig.baseline.seconds:.3f} s json.loads process", ratio,
            f"ratio <= {process.NOOP_RATIO_GOAL}", clean and ratio <= process.NOOP_RATIO_GOAL,
            counts),
        Row("no-op peak RSS", f"{fig.noop.peak_mib:.0f} MiB",
            f"{fig.baseline.peak_mib:.0f} MiB json.loads process", None,
            f"<= {process.NOOP_RSS_GOAL_MIB} MiB",
            clean and fig.noop.peak_mib <= process.NOOP_RSS_GOAL_MIB, counts)]


def bench_latency(scale: Scale, out: Path) -> Row:
    """Goal 2: a sync behind a slow upstream vs a serial mirror on the same fake."""
    formulae, size, delay = scale.latency
    fig = latency.measure_latency(formulae, size, delay, min(scale.repeat, 2), out)
    ratio = fig.serial / fig.ours
    ok = fig.counts["mirrored"] == fig.counts["bottles"] == fig.counts["serial_bottles"]
    return Row(f"latency ({fig.counts['bottles']} x {size // 1000} KB, {delay * 1000:.0f} ms/req)",
               f"{fig.ours:.2f} s (worst {fig.worst:.2f} s)", f"{fig.serial:.2f} s serial mirror",
               ratio,
               f"ratio >= {latency.LATENCY_GOAL:.0f}", ok and ratio >= latency.LATENCY_GOAL,
               fig.counts)


def bench_estimate(scale: Scale, out: Path) -> list[Row]:
    """Goal 4: an initial sync of 50k bottles on Lambda and Fargate, from a reduced-scale run;
    and goal 6's idle month of 15-minute runs."""
    per_bottle, mirrored = estimate.measure_per_bottle(scale.estimate_sample, out)
    counts = {"sample": scale.estimate_sample, "mirrored": mirrored,
              "per_bottle_s": round(per_bottle, 4), "gb": round(estimate.total_bytes() / 1e9)}
    rows = [Row(f"estimate: initial sync on {p.route}", f"{estimate.hours(p.seconds)}, "
                f"${p.dollars:.2f}", f"{estimate.FULL_BOTTLES} bottles, {counts['gb']} GB",
                None, "< 30 min, < $5",
                p.seconds < estimate.TARGET_S and p.dollars < estimate.TARGET_USD, counts,
                gate=False)  # goal 4 is the estimate; the operators' target is reported
            for p in estimate.project(per_bottle)]
    idle, without = estimate.price_idle_month()
    rows.append(Row("cost: idle month, every 15 min", f"${idle:.2f} (304 runs)",
                    f"${without:.2f} full plans", None, "< $0.50", idle < 0.50,
                    {"runs": estimate.RUNS_PER_IDLE_MONTH}))
    return rows


def curl_baseline(urls: list[tuple[str, str, str]], dest: Path) -> tuple[float, float]:
    """`xargs -P 8 curl` into `dest` (one curl per eighth of the list, reusing its connection),
    then `sha256sum -c`: seconds for the download alone, and for both."""
    fresh(dest)
    per = -(-len(urls) // PARALLEL)
    listing = dest / "urls.txt"
    listing.write_text("".join(f"-o {file} {url}\n" for file, _sha, url in urls))
    sums = dest / "SHA256SUMS"
    sums.write_text("".join(f"{sha}  {file}\n" for file, sha, _url in urls))
    start = time.perf_counter()
    curl = ["curl", "-s", "-S", "-f", "-L", "-H", f"Authorization: Bearer {ANONYMOUS_TOKEN}"]
    subprocess.run(["xargs", "-P", str(PARALLEL), "-L", str(per), "-a", str(listing), *curl],
                   cwd=dest, check=True)
    downloaded = time.perf_counter() - start
    subprocess.run(["sha256sum", "--quiet", "-c", str(sums)], cwd=dest, check=True)
    return downloaded, time.perf_counter() - start


def synthetic(prefix: str, count: int, size: int) -> list[FakeFormula]:
    """`count` one-bottle formulae of `size` synthetic bytes each."""
    return [FakeFormula(f"{prefix}{i:05d}", "1.0", tags=(BENCH_TAG,), synthetic_size=size)
            for i in range(count)]


def plan_run(fake: FakeHomebrew, dest: Path) -> tuple[LocalStorage, str]:
    """Plan sync into a fresh `dest` (not timed): the plan the mirror child works through."""
    storage = LocalStorage(fresh(dest))
    settings = settings_for(fake, dest, (BENCH_TAG,))
    with Upstream(settings) as upstream:
        plan = build_plan(settings, upstream=upstream, storage=storage, now=NOW)
    write_plan(storage, plan)
    return storage, plan.run_id


def run_child(fake: FakeHomebrew, dest: Path) -> dict[str, Any]:
    """Plan, then mirror in a child process; what the child printed."""
    _storage, run_id = plan_run(fake, dest)
    spec = {"source": fake.source_url, "dest": str(dest), "run_id": run_id}
    done = subprocess.run([sys.executable, "-m", "bench.mirror_child", json.dumps(spec)],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def bench_transfer(name: str, spec: tuple[int, int], goal: float, scale: Scale, out: Path) -> Row:
    """mirror_items into a local directory vs curl + sha256sum, same bottles, same parallelism."""
    count, size = spec
    with FakeHomebrew(synthetic(name, count, size), workdir=out / f"upstream-{name}") as fake:
        urls = [(e["name"] + ".bin", e["bottle"]["stable"]["files"][BENCH_TAG]["sha256"],
                 e["bottle"]["stable"]["files"][BENCH_TAG]["url"]) for e in fake.catalogue]
        dest = out / f"mirror-{name}"
        repeat = min(scale.repeat, 2)
        timings = [curl_baseline(urls, out / f"curl-{name}") for _ in range(repeat)]
        curl_alone, baseline = min(t[0] for t in timings), min(t[1] for t in timings)
        results = [run_child(fake, dest) for _ in range(repeat)]
        counts = {"bottles": count, "mirrored": results[-1]["mirrored"],
                  "failed": results[-1]["failed"], "bytes": results[-1]["bytes"],
                  "auth_leaks": len(fake.auth_leaks),
                  "files": sum(1 for _ in (dest / "bottles").iterdir())}
    seconds = min(r["seconds"] for r in results)
    total = count * size
    ratio = baseline / seconds
    return Row(f"{name} ({count} x {_human(size)})", f"{total / seconds / MIB:.0f} MiB/s",
               f"{total / baseline / MIB:.0f} MiB/s curl+sha256sum "
               f"({total / curl_alone / MIB:.0f} curl alone)", ratio, f"ratio >= {goal}",
               ratio >= goal and counts["failed"] == 0, counts)


def bench_memory(scale: Scale, out: Path) -> Row:
    """Peak RSS of a process mirroring one big bottle (the fake upstream is another process)."""
    with FakeHomebrew(synthetic("memory", 1, scale.memory_size),
                      workdir=out / "upstream-memory") as fake:
        result = run_child(fake, out / "mirror-memory")
    peak = result["peak_kib"] / 1024
    counts = {"mirrored": result["mirrored"], "bytes": result["bytes"],
              "size": scale.memory_size}
    return Row(f"memory (1 x {_human(scale.memory_size)})", f"{peak:.0f} MB peak RSS",
               f"{result['before_kib'] / 1024:.0f} MB idle", None, "<= 150 MB",
               peak <= 150 and result["mirrored"] == 1, counts)


def mirror_once(fake: FakeHomebrew, storage: Storage, dest: Path) -> Any:
    """One whole `bottlesync sync` of the fake's catalogue (plan, mirror, commit)."""
    settings = settings_for(fake, dest, (BENCH_TAG,))
    with Upstream(settings) as upstream:
        return run_sync(settings, storage=storage, upstream=upstream)


def bench_s3(scale: Scale, out: Path) -> Row:
    """The transfer benchmark into a moto S3 server: every object re-read and re-hashed."""
    import boto3
    from moto.server import ThreadedMotoServer

    count, size = scale.s3
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
        client.create_bucket(Bucket="bench-mirror")
        storage = S3Storage("bench-mirror", "", client=client)
        with FakeHomebrew(synthetic("s3", count, size), workdir=out / "upstream-s3") as fake:
            seconds, report = best(1, lambda: mirror_once(fake, storage, out / "unused"))
            expected = {f"bottles/{fake.file_name(e['name'], BENCH_TAG)}":
                        e["bottle"]["stable"]["files"][BENCH_TAG]["sha256"]
                        for e in fake.catalogue}
        verified = sum(1 for key, sha in expected.items() if _rehash(storage, key) == sha
                       and storage.stored_sha256(key) == sha)
    finally:
        server.stop()
    counts = {"bottles": count, "mirrored": report.mirrored, "verified": verified}
    return Row(f"S3/moto ({count} x {_human(size)})",
               f"{count * size / seconds / MIB:.0f} MiB/s", "-", None, "correct, no goal",
               verified == count, counts, timed=False)


def _rehash(storage: Storage, key: str) -> str:
    """sha256 of an object's bytes as stored."""
    digest = hashlib.sha256()
    for chunk in storage.iter_chunks(key):
        digest.update(chunk)
    return digest.hexdigest()


def bench_cost(_scale: Scale, _out: Path) -> list[Row]:
    """The cost model's two estimates against the $5 target."""
    rows = []
    for label, est in (("cost: initial full sync", cost.full_sync()),
                       ("cost: daily delta", cost.daily_delta())):
        total = est.total
        rows.append(Row(label, f"${total:.2f} ({est.route})", "-", None, "< $5 per sync",
                        total < 5.0, {"bottles": est.bottles, "gb": round(est.gigabytes, 1)}))
    return rows


def _human(size: int) -> str:
    """16 MiB, 2 GiB, 16 KiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


NAMES = ("plan", "noop", "process", "latency", "estimate", "transfer", "small", "memory", "s3",
         "cost")


def run(scale: Scale, out: Path, only: tuple[str, ...] = NAMES) -> list[Row]:
    """Run the chosen benchmarks in order; the no-op compares itself with the plan figure."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    plan_seconds = None
    if "plan" in only:
        rows.append(bench_plan(scale, out))
        plan_seconds = float(rows[-1].figure.split()[0])
    benches: dict[str, Callable[[], list[Row]]] = {
        "noop": lambda: [bench_noop(scale, out, plan_seconds)],
        "process": lambda: bench_noop_process(scale, out),
        "latency": lambda: [bench_latency(scale, out)],
        "estimate": lambda: bench_estimate(scale, out),
        "transfer": lambda: [bench_transfer("transfer", scale.transfer, 0.8, scale, out)],
        "small": lambda: [bench_transfer("small", scale.small, 0.5, scale, out)],
        "memory": lambda: [bench_memory(scale, out)],
        "s3": lambda: [bench_s3(scale, out)],
        "cost": lambda: bench_cost(scale, out)}
    for name in NAMES[1:]:
        if name in only:
            rows.extend(benches[name]())
    if not scale.judged:
        for row in rows:
            row.met = row.met if not row.timed else None
    return rows


def table(rows: list[Row]) -> str:
    """A Markdown table (readable as plain text too)."""
    head = ["benchmark", "figure", "baseline", "ratio", "goal", "met?"]
    lines = [head, ["---"] * len(head), *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
                     + " |" for line in lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, keep the figures under --out; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--scale", choices=("full", "smoke"), default="full")
    parser.add_argument("--only", default=",".join(NAMES), help=f"subset of {','.join(NAMES)}")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    only = tuple(n.strip() for n in args.only.split(",") if n.strip())
    unknown = set(only) - set(NAMES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    rows = run(FULL if args.scale == "full" else SMOKE, args.out, only)
    text = table(rows)
    print(text)
    machine = f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    (args.out / "results.md").write_text(f"{text}\n\n{machine}\n")
    (args.out / "results.json").write_text(json.dumps(
        [r.__dict__ for r in rows], indent=1, default=str))
    return verdict(rows)


def verdict(rows: list[Row]) -> int:
    """The exit status: 1 when a goal (a gating row) is missed."""
    return 0 if all(r.met is not False for r in rows if r.gate) else 1


if __name__ == "__main__":
    sys.exit(main())
