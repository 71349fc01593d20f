"""A plain no-op sync imports only what it needs: no rich, jsonschema, boto3 or PyYAML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bottlesync.manifest import MANIFEST_KEY
from tests.fakes.homebrew import FakeHomebrew

PROBE = """
import json, sys
from bottlesync.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "heavy": sorted(
    m for m in ("rich", "jsonschema", "boto3", "botocore", "yaml") if m in sys.modules)}))
"""


def run_probe(cwd: Path, *args: str) -> dict[str, object]:
    """The CLI in a fresh interpreter; the exit code and which heavy modules it loaded."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True,
                          text=True, check=True, timeout=120)
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_local_json_sync_never_imports_rich_jsonschema_boto3_or_yaml(
        homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a local destination, no config file and no terminal WHEN synced twice (a first
    sync, then a no-op) THEN neither run loads the heavy modules, and the no-op leaves the
    manifest's bytes untouched."""
    dest = tmp_path / "mirror"
    args = ("sync", "--source", homebrew.source_url, "--dest", str(dest), "--json")
    assert run_probe(tmp_path, *args) == {"code": 0, "heavy": []}
    before = (dest / MANIFEST_KEY).stat()
    assert run_probe(tmp_path, *args) == {"code": 0, "heavy": []}
    after = (dest / MANIFEST_KEY).stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
