"""GIVEN a tampered manifest whose entry points at the manifest itself (or a run record) THEN
verify --repair refuses it (exit 2) and never overwrites the manifest with bottle bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.fakes.homebrew import FakeHomebrew


@pytest.mark.parametrize("key", ["bottles_hash.json", "runs/evil.json", ".bottlesync/x"])
def test_repair_never_writes_outside_bottle_keys(homebrew: FakeHomebrew, tmp_path: Path,
                                                 key: str, cli: Callable[..., CliResult]) -> None:
    """GIVEN an entry whose key is not a bottle key WHEN verify --repair THEN exit 2 naming the
    entry, the manifest bytes unchanged, nothing written at that key."""
    assert cli("sync", "--json").code == 0
    manifest_path = tmp_path / "mirror" / "bottles_hash.json"
    doc = json.loads(manifest_path.read_bytes())
    file = next(iter(doc["bottles"]))
    doc["bottles"][file]["key"] = key
    tampered = json.dumps(doc).encode()
    manifest_path.write_bytes(tampered)
    result = cli("verify", "--repair", "--json")
    assert result.code == 2, result.out + result.err
    assert f"bottles.{file}.key" in result.err and "Traceback" not in result.err
    assert manifest_path.read_bytes() == tampered
    assert key == "bottles_hash.json" or not (tmp_path / "mirror" / key).exists()
