"""`make demo` interrupted with Ctrl-C: bottlesync's one line, exit 130, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The demo, with one bottle trickled (about 4 s) so the interrupt lands mid-transfer on any machine.
SLOWED_DEMO = """
import sys
from tests.fakes import demo
add_faults = demo.add_faults
def slowed(fake, paced):
    add_faults(fake, paced)
    fake.fault("slow", fake.sha256("icu4c@76", "arm64_sequoia"), delay=1.5)
demo.add_faults = slowed
sys.exit(demo.main(["--dest", sys.argv[1], "--fast"]))
"""


def test_ctrl_c_prints_bottlesync_line_and_no_traceback(tmp_path: Path) -> None:
    """GIVEN the demo mid-sync WHEN the terminal's SIGINT reaches its process group THEN
    bottlesync's "interrupted" line, exit 130, no traceback, and nothing unverified visible."""
    dest = tmp_path / "demo-mirror"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    demo = subprocess.Popen([sys.executable, "-c", SLOWED_DEMO, str(dest)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group, as a terminal's job is
    try:
        deadline = time.monotonic() + 120  # generous: only a broken demo waits this long
        while not list(dest.glob("runs/*/plan.json")) and demo.poll() is None:
            assert time.monotonic() < deadline, "the demo never wrote its plan"
            time.sleep(0.02)
        assert demo.poll() is None, "the demo ended before it could be interrupted"
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        out, err = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.communicate()
    assert demo.returncode == 130, err
    assert "Traceback" not in err and "Traceback" not in out
    assert [line for line in err.splitlines() if line.strip()] == [
        "bottlesync: interrupted: re-run to finish (nothing unverified is visible)"]
    assert not list(dest.glob("bottles/*.part"))
