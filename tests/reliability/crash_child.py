"""`bottlesync` for the crash tests: the real CLI, announcing on stderr when it reaches a phase.

    python -m tests.reliability.crash_child <phase> sync --config ... --json

On reaching <phase> it prints `@@phase <phase>` and holds there for HOLD seconds, so the parent's
kill -9 lands inside it: `download` (bytes of a bottle are arriving), `write` (a bottle's temp file
is written but not yet renamed), `landed` (bottles are stored, the manifest commit has not begun),
`manifest` (the manifest's temp file is written but not yet renamed). Nothing else is changed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from bottlesync import commit, sync
from bottlesync.cli import main
from bottlesync.manifest import MANIFEST_KEY
from bottlesync.storage import LocalStorage
from bottlesync.upstream import Upstream

MARK = "@@phase"
HOLD = 0.4
_announced = threading.Event()


def _announce(phase: str) -> None:
    """Say where we are (once) and hold still for the parent's kill."""
    if not _announced.is_set():
        _announced.set()
        print(f"{MARK} {phase}", file=sys.stderr, flush=True)
    time.sleep(HOLD)


def _then_announce(chunks: Iterable[bytes], phase: str) -> Iterator[bytes]:
    """Pass every chunk through, then announce `phase` before the consumer finishes."""
    yield from chunks
    _announce(phase)


def install(phase: str) -> None:
    """Hook the one place where `phase` happens."""
    if phase == "download":
        real_chunks = Upstream.chunks

        def chunks(self: Upstream, response: Any, what: str) -> Iterator[bytes]:
            for index, chunk in enumerate(real_chunks(self, response, what)):
                yield chunk
                if index == 0:
                    print(f"{MARK} download", file=sys.stderr, flush=True)

        Upstream.chunks = chunks  # type: ignore[method-assign]
    elif phase in ("write", "manifest"):
        real_publish = LocalStorage._publish

        def publish(self: LocalStorage, key: str, chunks: Iterable[bytes],
                    sha256: str | None) -> int:
            is_target = key == MANIFEST_KEY if phase == "manifest" else key.startswith("bottles/")
            return real_publish(self, key, _then_announce(chunks, phase) if is_target else chunks,
                                sha256)

        LocalStorage._publish = publish  # type: ignore[method-assign]
    elif phase == "landed":
        real_commit = commit.commit_run

        def commit_run(*args: Any, **kwargs: Any) -> Any:
            _announce("landed")
            return real_commit(*args, **kwargs)

        sync.commit_run = commit_run
    else:
        raise SystemExit(f"unknown phase {phase!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
