"""Reliability helpers: a timed fake, in-process syncs with recorded sleeps, mirror invariants."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bottlesync.commit import RunReport
from bottlesync.manifest import MANIFEST_KEY, load_manifest
from bottlesync.storage import INTERNAL_DIR, LocalStorage
from bottlesync.sync import run_sync
from bottlesync.upstream import Upstream
from bottlesync.verify import check_mirror
from tests.conftest import fast_settings, is_index_key
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

BOTTLE_PREFIX = "bottles/"


def many_formulae(count: int, payload_size: int = 1024) -> list[FakeFormula]:
    """`count` formulae with two tags each, every naming case represented."""
    out = []
    for i in range(count):
        name = ("lib", "py", "go@1.", "x++", "tool-")[i % 5] + str(i)
        out.append(FakeFormula(name, f"1.{i}.0", revision=i % 3, rebuild=i % 2 * (i % 4),
                               payload_size=payload_size))
    return out


class TimedHomebrew(FakeHomebrew):
    """FakeHomebrew that also records when each request arrived and which faults it served."""

    def __init__(self, formulae: Iterable[FakeFormula]) -> None:
        super().__init__(formulae)
        self.arrivals: list[tuple[float, str]] = []
        self.served: list[tuple[float, str, str]] = []
        self._times = threading.Lock()

    def _handle(self, handler: Any) -> None:
        """Stamp the arrival, then answer as usual."""
        with self._times:
            self.arrivals.append((time.monotonic(), handler.path))
        super()._handle(handler)

    def _take_fault(self, path: str, method: str, resp: Any) -> Any:
        """Stamp every fault served."""
        fault = super()._take_fault(path, method, resp)
        if fault is not None:
            with self._times:
                self.served.append((time.monotonic(), fault.kind, path))
        return fault


@dataclass
class SleepRecorder:
    """A sleep that records what it was asked and sleeps at most `ceiling` seconds."""

    ceiling: float = 1.0
    asked: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(min(max(seconds, 0.0), self.ceiling))


def sync_once(homebrew: FakeHomebrew, dest: Path, sleep: Callable[[float], None] = time.sleep,
              **overrides: Any) -> RunReport:
    """One whole local sync in-process (plan, mirror, commit) with an injectable sleep."""
    settings = fast_settings(homebrew.source_url, dest, **overrides)
    with Upstream(settings, sleep=sleep) as upstream:
        return run_sync(settings, storage=LocalStorage(dest), upstream=upstream)


def catalogue_shas(homebrew: FakeHomebrew) -> dict[str, str]:
    """file name -> sha256 of every bottle the fake's catalogue lists right now."""
    out = {}
    for entry in homebrew.catalogue:
        formula = homebrew.formula(entry["name"])
        for tag, info in entry["bottle"]["stable"]["files"].items():
            out[formula.file_name(tag)] = info["sha256"]
    return out


def sha_of(path: Path) -> str:
    """sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_consistent(dest: Path, known: dict[str, set[str]] | dict[str, str]) -> dict[str, str]:
    """The mirror invariants; returns file -> sha of the bottles visible under the prefix.

    Nothing unverified is visible (every file under the bottle prefix hashes to a sha the
    catalogue gave it), no temp file is outside `.bottlesync/`, and every manifest entry's key
    exists with that sha256.
    """
    visible: dict[str, str] = {}
    for path in sorted(dest.rglob("*")) if dest.exists() else []:
        rel = path.relative_to(dest).as_posix()
        if rel.startswith(INTERNAL_DIR + "/") or not path.is_file():
            continue
        assert not rel.endswith((".part", ".tmp")), f"temp file visible: {rel}"
        if rel.startswith(BOTTLE_PREFIX) and not is_index_key(rel):
            file = rel[len(BOTTLE_PREFIX):]
            allowed = known.get(file)
            allowed = {allowed} if isinstance(allowed, str) else (allowed or set())
            visible[file] = sha_of(path)
            assert visible[file] in allowed, f"unverified bytes visible at {rel}"
    storage = LocalStorage(dest)
    manifest, _ = load_manifest(storage)
    for file, entry in manifest.bottles.items():
        path = dest / entry["key"]
        assert path.is_file(), f"manifest lists {file} but {entry['key']} is missing"
        assert sha_of(path) == entry["sha256"], f"manifest sha of {file} differs from storage"
    if (dest / MANIFEST_KEY).exists():
        assert check_mirror(storage, 4).exit_code == 0
    return visible


def assert_converged(dest: Path, homebrew: FakeHomebrew) -> None:
    """Every catalogue bottle for the test tags is stored, verified and in the manifest."""
    expected = {f: s for f, s in catalogue_shas(homebrew).items()
                if ".arm64_sequoia." in f or ".x86_64_linux." in f or ".all." in f}
    visible = assert_consistent(dest, expected)
    manifest, _ = load_manifest(LocalStorage(dest))
    assert visible == expected
    assert {f: e["sha256"] for f, e in manifest.bottles.items()} == expected


@pytest.fixture
def timed_homebrew() -> Iterator[Callable[[Iterable[FakeFormula]], TimedHomebrew]]:
    """A factory for TimedHomebrew fakes, all stopped at teardown."""
    started: list[TimedHomebrew] = []

    def make(formulae: Iterable[FakeFormula]) -> TimedHomebrew:
        fake = TimedHomebrew(formulae)
        fake.start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
