"""Goal 1 of issue 13: a no-op re-sync, whole process, against a process that only json.loads.

Both are fresh interpreters on the same catalogue file, run alternately; the CLI is the one
installed next to this interpreter, with no config file and no terminal (`--json`), into a local
mirror whose manifest already holds every bottle. Wall time and peak RSS come from wait4.
"""

from __future__ import annotations

import compileall
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import bottlesync
from bench import generate
from bottlesync.manifest import MANIFEST_KEY, Manifest

MIB = 1 << 20
NOOP_RATIO_GOAL = 1.0
NOOP_RSS_GOAL_MIB = 128  # the smallest Lambda memory size
ALTERNATIONS = 5  # pairs of half-second processes: the best of each side outlasts this
# host's slow spells (+-20% from one second to the next), which three pairs did not
JSON_LOADS = "import json, sys; json.loads(open(sys.argv[1], 'rb').read())"


@dataclass(frozen=True)
class ProcessRun:
    """One child process: wall seconds, peak RSS and exit status."""

    seconds: float
    peak_mib: float
    code: int


# A small launcher in between: a child forked straight from this (large) bench process would
# inherit its peak RSS in wait4's figure; the launcher's child starts from a few MiB.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ,
                     file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
_pid, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_process(argv: list[str], cwd: Path) -> ProcessRun:
    """Run `argv` (argv[0] an absolute path) to completion: its wall time and peak RSS."""
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *argv], cwd=cwd, check=True,
                          capture_output=True, text=True)
    seconds, peak_kib, code = done.stdout.split()
    return ProcessRun(float(seconds), int(peak_kib) / 1024, int(code))


def compile_package() -> bool:
    """Compile bottlesync's bytecode, as a regular `pip install` does at install time; True
    when every module has it. An editable install (make install) leaves that to the first
    run, and with PYTHONDONTWRITEBYTECODE=1 (set where these figures are taken) every run compiles
    the whole package again: 0.1 s of a 0.4 s no-op that no installed CLI pays."""
    package = Path(bottlesync.__file__).parent
    compileall.compile_dir(str(package), quiet=1)
    return all(Path(importlib.util.cache_from_source(str(module))).is_file()
               for module in package.glob("*.py"))


def installed_cli() -> str:
    """The `bottlesync` console script of this environment (the CLI as a user runs it)."""
    script = Path(sys.executable).parent / "bottlesync"
    if not script.is_file():
        raise SystemExit(f"bench: {script} not found: install the package (make install)")
    return str(script)


@dataclass(frozen=True)
class NoopFigures:
    """Best-of-N of both processes, and what the no-op left behind."""

    noop: ProcessRun
    baseline: ProcessRun
    manifest_rewritten: bool
    compiled: bool
    codes: tuple[int, ...]
    catalogue_mb: float
    bottles: int


def measure_noop(formulae_count: int, manifest_entries: int, repeat: int, out: Path
                 ) -> NoopFigures:
    """Write the catalogue and a complete manifest, then time both processes alternately."""
    work = out / "noop-process"
    mirror = work / "mirror"
    mirror.mkdir(parents=True, exist_ok=True)
    formulae = generate.generate(formulae_count)
    catalogue = work / "formula.json"
    catalogue.write_bytes(generate.catalogue_bytes(formulae, "https://ghcr.io/v2/homebrew/core"))
    doc = generate.manifest_doc(formulae, [], manifest_entries)
    manifest = mirror / MANIFEST_KEY
    manifest.write_bytes(Manifest(doc["bottles"], doc["updated_at"]).to_bytes())
    written = manifest.stat().st_mtime_ns
    cli = [installed_cli(), "sync", "--source", str(catalogue), "--dest", str(mirror), "--json"]
    compiled = compile_package()
    loads = [sys.executable, "-c", JSON_LOADS, str(catalogue)]
    noops, baselines = [], []
    for _ in range(max(1, repeat)):
        baselines.append(run_process(loads, work))
        noops.append(run_process(cli, work))
    return NoopFigures(
        noop=ProcessRun(min(r.seconds for r in noops), max(r.peak_mib for r in noops), 0),
        baseline=ProcessRun(min(r.seconds for r in baselines),
                            max(r.peak_mib for r in baselines), 0),
        manifest_rewritten=manifest.stat().st_mtime_ns != written, compiled=compiled,
        codes=tuple(r.code for r in noops + baselines),
        catalogue_mb=round(catalogue.stat().st_size / 1e6, 1),
        bottles=generate.bottle_count(formulae))
