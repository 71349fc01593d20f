"""Run pip-audit on the runtime requirements: vulnerabilities fail, an unreachable database warns.

A dependency pip-audit could not look up (no network, a mirror without the JSON API) was not
audited: that is printed as a WARNING, never reported as a clean pass.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404
import sys
from pathlib import Path
from typing import Any

REQUIREMENTS = Path(__file__).resolve().parents[1] / "src" / "requirements.txt"


def verdict(returncode: int, stdout: str, stderr: str) -> tuple[int, list[str]]:
    """The exit code and the lines to print for one pip-audit run (JSON format)."""
    try:
        report: dict[str, Any] = json.loads(stdout)
    except ValueError:
        reason = (stderr.strip().splitlines() or ["no output"])[-1]
        return 0, [f"WARNING: pip-audit did not run to the end ({reason}): "
                   "dependencies NOT audited"]
    deps = report.get("dependencies", [])
    vulnerable = [(d["name"], d["version"], v["id"]) for d in deps for v in d.get("vulns", [])]
    skipped = [d["name"] for d in deps if d.get("skip_reason")]
    lines = [f"{name} {version}: {vuln}" for name, version, vuln in vulnerable]
    if skipped:
        lines.append(f"WARNING: {len(skipped)} of {len(deps)} dependencies could not be audited "
                     f"(vulnerability database unreachable?): {', '.join(sorted(skipped))}")
    audited = len(deps) - len(skipped)
    if not vulnerable:
        lines.append(f"pip-audit: {audited} dependencies audited, no known vulnerability")
    return (1 if vulnerable or (returncode not in (0, 1)) else 0), lines


def main() -> int:
    """Audit src/requirements.txt and print the verdict."""
    argv = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--format", "json",
            "-r", str(REQUIREMENTS)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # nosec B603
    code, lines = verdict(done.returncode, done.stdout, done.stderr)
    for line in lines:
        print(line, file=sys.stderr if line.startswith("WARNING") else sys.stdout)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
