"""GIVEN a local destination with a planted symlink leading out of it (or a destination that is a
file or not writable) THEN the sync refuses with one line naming the path, exit 2, nothing written
outside or inside, nothing deleted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bottlesync.errors import DestinationError
from bottlesync.storage import LocalStorage
from tests.conftest import CliResult
from tests.fakes.homebrew import FakeHomebrew


def snapshot(root: Path) -> set[str]:
    """Every path under root (symlinks not followed)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the destination, holding a planted temp file."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "planted.part").write_bytes(b"not yours")
    return out


def assert_refused(result: CliResult, needle: str) -> None:
    """Exit 2 and one error line naming the path."""
    assert result.code == 2, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bottlesync: error: "), result.err
    assert needle in lines[0]
    assert "Traceback" not in result.err


@pytest.mark.parametrize(("link", "layout"), [
    ("bottles", "bottle-domain"), ("runs", "bottle-domain"), ("v2", "artifact-domain"),
    ("2026-11-28", "dated"), (".bottlesync", "bottle-domain"),
])
def test_a_symlink_out_of_the_destination_is_refused(
        homebrew: FakeHomebrew, tmp_path: Path, outside: Path, link: str, layout: str,
        cli: Callable[..., CliResult]) -> None:
    """GIVEN <dest>/<link> -> a directory outside THEN exit 2, nothing written or deleted."""
    dest = tmp_path / "mirror"
    dest.mkdir()
    (dest / link).symlink_to(outside, target_is_directory=True)
    before_out, before_dest = snapshot(outside), snapshot(dest)
    result = cli("sync", "--json", layout=layout)
    assert_refused(result, str(dest / link))
    assert snapshot(outside) == before_out
    assert snapshot(dest) == before_dest


def test_a_planted_part_file_behind_a_symlinked_tmp_survives(
        homebrew: FakeHomebrew, tmp_path: Path, outside: Path,
        cli: Callable[..., CliResult]) -> None:
    """GIVEN <dest>/.bottlesync/tmp -> outside holding *.part THEN nothing there is deleted."""
    internal = tmp_path / "mirror" / ".bottlesync"
    internal.mkdir(parents=True)
    (internal / "tmp").symlink_to(outside, target_is_directory=True)
    result = cli("sync", "--json")
    assert_refused(result, str(internal / "tmp"))
    assert (outside / "planted.part").read_bytes() == b"not yours"


def test_a_symlink_that_stays_inside_is_fine(homebrew: FakeHomebrew, tmp_path: Path,
                                             cli: Callable[..., CliResult]) -> None:
    """GIVEN bottles -> a directory inside the destination THEN the sync works through it."""
    dest = tmp_path / "mirror"
    (dest / "store").mkdir(parents=True)
    (dest / "bottles").symlink_to(dest / "store", target_is_directory=True)
    result = cli("sync", "--json")
    assert result.code == 0, result.err
    assert any(p.name.endswith(".tar.gz") for p in (dest / "store").iterdir())


def test_a_destination_that_is_a_file_is_refused(homebrew: FakeHomebrew, tmp_path: Path,
                                                 cli: Callable[..., CliResult]) -> None:
    """GIVEN --dest naming a file (or a path below one) THEN exit 2 naming it, file untouched."""
    target = tmp_path / "mirror"
    target.write_bytes(b"precious")
    assert_refused(cli("sync", "--json"), f"{target}: the destination is a file")
    assert_refused(cli("sync", "--json", "--dest", str(target / "sub")), str(target))
    assert target.read_bytes() == b"precious"


def test_a_destination_that_is_not_writable_is_refused(
        homebrew: FakeHomebrew, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        cli: Callable[..., CliResult]) -> None:
    """GIVEN a read-only parent directory THEN exit 2 naming the path, nothing created."""
    parent = tmp_path / "readonly"
    parent.mkdir()
    parent.chmod(0o555)
    if os.geteuid() == 0:  # root ignores permission bits: answer as the kernel would for a user
        real_access = os.access
        monkeypatch.setattr("bottlesync.jail.os.access",
                            lambda p, mode: real_access(p, mode) and Path(p) != parent)
    try:
        result = cli("sync", "--json", "--dest", str(parent / "mirror"))
        assert_refused(result, f"{parent / 'mirror'}: the destination is not writable")
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


def test_deeper_symlinks_are_refused_per_write_and_delete(tmp_path: Path,
                                                          outside: Path) -> None:
    """GIVEN a symlinked folder below the top level THEN writes and deletes through it fail."""
    dest = tmp_path / "mirror"
    storage = LocalStorage(dest)
    storage.put_bytes("runs/ok.json", b"{}")
    (dest / "runs" / "2026").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DestinationError, match="outside the destination"):
        storage.put_bytes("runs/2026/11/record.json", b"{}")
    with pytest.raises(DestinationError):
        storage.delete("runs/2026/planted.part")
    assert sorted(p.name for p in outside.iterdir()) == ["planted.part"]
