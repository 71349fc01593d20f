"""`bottlesync prune`: a dry run by default, --apply deletes, a bad catalogue refuses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bottlesync.manifest import commit_entries
from bottlesync.storage import LocalStorage
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

OLD = "wget-1.20.0.arm64_sequoia.bottle.tar.gz"


@pytest.fixture
def mirror(cli, tmp_path: Path) -> Path:
    """A synced mirror plus an old wget bottle synced in 2020."""
    assert cli("sync").code == 0
    storage = LocalStorage(tmp_path / "mirror")
    sha = hashlib.sha256(b"old").hexdigest()
    storage.put_verified(f"bottles/{OLD}", [b"old"], sha)
    commit_entries(storage, {OLD: {"sha256": sha, "size": 3, "key": f"bottles/{OLD}",
                                   "synced_at": "2020-01-01T00:00:00Z", "run_id": "old"}},
                   now="2020-01-01T00:00:00Z")
    return tmp_path / "mirror"


def test_dry_run_lists_and_apply_deletes(cli, config_file: Callable[..., Path],
                                         mirror: Path) -> None:
    """GIVEN one old bottle WHEN prune THEN it is listed and stays; WHEN --apply THEN it is
    gone from disk and the manifest, and the 13 current bottles remain."""
    config = str(config_file())
    dry = cli("prune", "--config", config)
    assert dry.code == 0, dry.err
    assert dry.out.splitlines()[0] == f"would delete bottles/{OLD}"
    assert (mirror / "bottles" / OLD).exists()
    done = cli("prune", "--config", config, "--apply", "--json")
    assert done.code == 0 and done.json["delete"] == [f"bottles/{OLD}"] and done.json["applied"]
    assert not (mirror / "bottles" / OLD).exists()
    bottles = json.loads((mirror / "bottles_hash.json").read_text())["bottles"]
    assert OLD not in bottles and len(bottles) == 13
    assert cli("verify", "--dest", str(mirror)).code == 0


def test_older_than_keeps_a_recent_bottle(cli, config_file: Callable[..., Path],
                                          mirror: Path) -> None:
    """GIVEN --older-than longer than the bottle's age THEN nothing is listed."""
    result = cli("prune", "--config", str(config_file()), "--older-than", "100000", "--json")
    assert result.code == 0 and result.json["delete"] == []


def test_an_empty_catalogue_refuses_and_deletes_nothing(
    cli, config_file: Callable[..., Path], mirror: Path,
    make_homebrew: Callable[[Sequence[FakeFormula]], FakeHomebrew]
) -> None:
    """GIVEN --source serving [] THEN exit 2 with one line, and nothing is deleted."""
    empty = make_homebrew([])
    result = cli("prune", "--config", str(config_file()), "--source", empty.source_url,
                 "--apply")
    assert result.code == 2 and "no formulae" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert (mirror / "bottles" / OLD).exists()


def test_an_unreachable_catalogue_refuses(cli, config_file: Callable[..., Path],
                                          mirror: Path) -> None:
    """GIVEN a catalogue that cannot be fetched THEN exit 2 naming it, nothing deleted."""
    result = cli("prune", "--config", str(config_file(attempts=1)), "--source",
                 "http://127.0.0.1:9/api/formula.json", "--apply")
    assert result.code == 2 and "127.0.0.1:9" in result.err and "Traceback" not in result.err
    assert (mirror / "bottles" / OLD).exists()
