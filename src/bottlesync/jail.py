"""A local destination is a jail: no write, rename or cleanup follows a symlink out of it."""

from __future__ import annotations

import os
from pathlib import Path

from bottlesync.errors import DestinationError

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
WATCHED = (".bottlesync/tmp", ".bottlesync/locks")  # below the top level, checked up front too


def inside(root: Path, path: Path) -> bool:
    """True when `path` (symlinks resolved, existing or not) lies within `root`."""
    return path.resolve().is_relative_to(root.resolve())


def check_inside(root: Path, path: Path) -> None:
    """DestinationError unless `path` resolves inside `root` (a planted symlink leads out)."""
    if not inside(root, path):
        raise DestinationError(f"{path}: resolves to {path.resolve()}, outside the destination "
                               f"{root}: refusing to follow the symlink")


def nofollow_parent(root: Path, key: str) -> int | None:
    """A handle on the folder holding `key`, reached from `root` one folder at a time without
    following a symlink (O_NOFOLLOW), so it cannot lead out; None when a folder is missing or is
    a symlink (the caller then takes the checked path). `key` must be a checked key."""
    try:
        fd = os.open(root, _DIRECTORY)
    except OSError:
        return None
    for part in key.split("/")[:-1]:
        try:
            child = os.open(part, _DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:
            child = None
        os.close(fd)
        if child is None:
            return None
        fd = child
    return fd


def nearest_directory(root: Path) -> Path:
    """`root` or its nearest existing ancestor; DestinationError when a file is in the way."""
    if root.exists() and not root.is_dir():
        raise DestinationError(f"{root}: the destination is a file, not a directory")
    existing = root
    while not existing.is_dir():  # asked again after each look: a concurrent run may make it
        there = os.path.lexists(existing)
        if existing == existing.parent or (there and not existing.is_dir()):
            raise DestinationError(f"{root}: cannot be created: {existing} is not a directory")
        if not there:
            existing = existing.parent
    return existing


def preflight(root: Path) -> None:
    """Before the first write: a writable directory whose symlinks all stay inside it."""
    existing = nearest_directory(root)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DestinationError(f"{root}: the destination is not writable ({existing})")
    if existing != root:
        return
    for entry in [*root.iterdir(), *(root / name for name in WATCHED)]:
        if entry.is_symlink():
            check_inside(root, entry)
