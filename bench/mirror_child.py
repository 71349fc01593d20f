"""The transfer benchmarks' child: mirror a written plan in a fresh interpreter (its own GIL,
away from the fake's) and print the wall time, the peak RSS before and after, and the counts.

Its own small module, not a flag of bench.run: worker processes (mirror_pool.py, `spawn`)
import the parent's main module again, and bench.run brings the fake upstream and the whole
benchmark with it, which `bottlesync` itself never would.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bottlesync.config import Settings
from bottlesync.mirror import mirror_items
from bottlesync.plan import read_items
from bottlesync.storage import LocalStorage
from bottlesync.upstream import Upstream

PARALLEL = 8  # the concurrency of every transfer benchmark (and of curl's xargs -P)


def vm_hwm_kib() -> int:
    """This process's peak resident set (VmHWM), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def mirror_child(spec: str) -> None:
    """Mirror the plan `spec` names; print the figures as one JSON line."""
    args = json.loads(spec)
    storage = LocalStorage(Path(args["dest"]))
    items = read_items(storage, args["run_id"])
    settings = Settings(source=args["source"], dest=args["dest"], concurrency=PARALLEL)
    before = vm_hwm_kib()
    start, cpu = time.perf_counter(), time.process_time()
    with Upstream(settings) as upstream:
        event = mirror_items(items, storage=storage, upstream=upstream, run_id=args["run_id"],
                             concurrency=PARALLEL).to_event()
    print(json.dumps({"seconds": time.perf_counter() - start,
                      "cpu_seconds": time.process_time() - cpu, "before_kib": before,
                      "peak_kib": vm_hwm_kib(), **event}))


if __name__ == "__main__":
    mirror_child(sys.argv[1])
