"""A plain no-op sync imports only what it needs: no rich, jsonschema, boto3 or PyYAML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bottlesync.manifest import MANIFEST_KEY
from tests.fakes.homebrew import FakeHomebrew

PROBE = """
import json, os, sys
from bottlesync.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "heavy": sorted(
    m for m in os.environ["HEAVY"].split() if m in sys.modules)}))
"""
HEAVY = ("rich", "jsonschema", "boto3", "botocore", "yaml")
HTTP_LIBRARIES = ("urllib3", "requests", "http.client")  # wire.py speaks HTTP/1.1 itself
LAZY = (*HTTP_LIBRARIES, "bottlesync.wire", "cryptography", "email.utils", "bottlesync.serve",
        "bottlesync.export", "bottlesync.importer", "bottlesync.prune")  # what a local no-op
# never needs: the HTTP client, signatures, an HTTP-date, the server and air-gap commands


def run_probe(cwd: Path, *args: str, heavy: tuple[str, ...] = HEAVY
              ) -> tuple[dict[str, object], dict[str, Any]]:
    """The CLI in a fresh interpreter, with no proxy variables: the exit code and which of
    `heavy` it loaded; and the report it printed."""
    env = {name: value for name, value in os.environ.items()
           if not name.lower().endswith("_proxy")}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True,
                          text=True, check=True, timeout=120,
                          env={**env, "HEAVY": " ".join(heavy)})
    *report, probe = done.stdout.splitlines()
    return json.loads(probe), json.loads(report[0])


def test_a_local_json_sync_never_imports_rich_jsonschema_boto3_or_yaml(
        homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a local destination, no config file, no terminal and no proxy variables WHEN
    synced twice (a first sync, then a no-op) THEN neither run loads the heavy modules, the
    first fetches every bottle without urllib3, requests or http.client, and the no-op leaves
    the manifest's bytes untouched."""
    dest = tmp_path / "mirror"
    args = ("sync", "--source", homebrew.source_url, "--dest", str(dest), "--json")
    probe, report = run_probe(tmp_path, *args, heavy=(*HEAVY, *HTTP_LIBRARIES))
    assert probe == {"code": 0, "heavy": []} and report["mirrored"] > 0
    before = (dest / MANIFEST_KEY).stat()
    assert run_probe(tmp_path, *args)[0] == {"code": 0, "heavy": []}
    after = (dest / MANIFEST_KEY).stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_a_no_op_from_a_local_catalogue_loads_no_http_client_and_no_crypto(
        homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN a mirror already complete for the catalogue, read as a local file WHEN synced again
    THEN nothing needed a request or a signature check: urllib3, requests and cryptography
    stay unloaded (the HTTP client is made by the first request, the key by the first
    signed file), and so do the server and air-gap modules and the HTTP-date parser."""
    dest = tmp_path / "mirror"
    run_probe(tmp_path, "sync", "--source", homebrew.source_url, "--dest", str(dest), "--json")
    catalogue = tmp_path / "formula.json"
    catalogue.write_bytes(json.dumps(homebrew.catalogue).encode())
    probe, report = run_probe(tmp_path, "sync", "--source", str(catalogue), "--dest", str(dest),
                              "--json", heavy=(*HEAVY, *LAZY))
    assert probe == {"code": 0, "heavy": []}
    assert report["present"] == report["selected"] > 0
