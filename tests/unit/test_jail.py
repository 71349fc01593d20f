"""jail: a folder handle reached without following any symlink, and the destination's nearest
folder even while a concurrent run makes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bottlesync.errors import DestinationError
from bottlesync.jail import nearest_directory, nofollow_parent, preflight


def same_dir(fd: int, path: Path) -> bool:
    """True when the open handle is the directory at `path`."""
    held, there = os.fstat(fd), path.stat()
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def test_plain_folders_give_the_parent_handle(tmp_path: Path) -> None:
    """GIVEN root/a/b as real folders THEN the handle is root/a/b (and root itself at top level)."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    for key, parent in (("a/b/file.tar.gz", tmp_path / "a" / "b"), ("top.json", tmp_path)):
        fd = nofollow_parent(tmp_path, key)
        assert fd is not None
        try:
            assert same_dir(fd, parent)
        finally:
            os.close(fd)


@pytest.mark.parametrize("inside", [True, False])
def test_a_symlinked_folder_is_never_followed(tmp_path: Path, inside: bool) -> None:
    """GIVEN root/bottles -> a folder (inside the root or not) THEN None: the caller checks."""
    root = tmp_path / "root"
    target = root / "store" if inside else tmp_path / "outside"
    target.mkdir(parents=True)
    root.mkdir(exist_ok=True)
    (root / "bottles").symlink_to(target, target_is_directory=True)
    assert nofollow_parent(root, "bottles/x.tar.gz") is None


def test_a_missing_folder_or_a_file_in_the_way_gives_none(tmp_path: Path) -> None:
    """GIVEN a key whose folder does not exist, or is a file THEN None, no handle leaks."""
    (tmp_path / "file").write_bytes(b"")
    before = sum(1 for _ in Path("/proc/self/fd").iterdir())
    assert nofollow_parent(tmp_path, "missing/x") is None
    assert nofollow_parent(tmp_path, "file/x") is None
    assert nofollow_parent(tmp_path / "nowhere", "x") is None
    assert sum(1 for _ in Path("/proc/self/fd").iterdir()) == before


def test_a_destination_made_meanwhile_by_a_concurrent_run_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the destination is made by another run just after this one found it missing THEN
    it is a folder like any other, not "cannot be created" (a concurrent sync failed a bottle)."""
    root = tmp_path / "mirror"
    real_is_dir = Path.is_dir

    def racing(self: Path) -> bool:
        answer = real_is_dir(self)
        if self == root and not answer:
            root.mkdir(exist_ok=True)  # the other run, right after our look
        return answer

    monkeypatch.setattr(Path, "is_dir", racing)
    assert nearest_directory(root) == root
    preflight(root)


@pytest.mark.parametrize("blocker", ["file", "dangling symlink"])
def test_a_file_or_a_dangling_symlink_on_the_way_is_named(tmp_path: Path, blocker: str) -> None:
    """GIVEN a file or a dangling symlink where a folder of the destination should be THEN
    DestinationError names it."""
    way = tmp_path / "a"
    if blocker == "file":
        way.write_text("x")
    else:
        way.symlink_to(tmp_path / "gone")
    with pytest.raises(DestinationError, match=f"{way} is not a directory"):
        nearest_directory(way / "mirror")
