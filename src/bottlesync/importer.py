"""Import: check a whole delta against its table of contents, then publish it verified."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bottlesync.commit import record_key
from bottlesync.delta import BOTTLE, MAX_TOC_BYTES, TOC_NAME, Toc, layout_of, parse_toc
from bottlesync.errors import ConfigError, DeltaError
from bottlesync.manifest import commit_entries
from bottlesync.plan import iso, new_run_id
from bottlesync.storage import CHUNK, Storage


@dataclass
class ImportReport:
    """What an import found and wrote (the CLI's --json object)."""

    run_id: str
    delta: str
    toc_sha256: str
    source_runs: list[str]
    bottles: int
    present: int
    written: list[str] = field(default_factory=list)
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        """Counts and names, small."""
        return {"run_id": self.run_id, "delta": self.delta, "toc_sha256": self.toc_sha256,
                "source_runs": self.source_runs, "bottles": self.bottles,
                "present": self.present, "written": len(self.written), "bytes": self.bytes}


def part_paths(path: Path) -> list[Path]:
    """The delta file, or its numbered parts (`<out>.000`... given either name)."""
    first = path if path.name.endswith(".000") else Path(f"{path}.000")
    if path.is_file() and first != path:
        return [path]
    stem = str(first)[:-4]
    parts: list[Path] = []
    while Path(f"{stem}.{len(parts):03d}").is_file():
        parts.append(Path(f"{stem}.{len(parts):03d}"))
    if not parts:
        raise ConfigError(f"{path}: no such delta file (nor {first.name})")
    return parts


class PartsReader(io.RawIOBase):
    """The parts read back to back as one stream."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = list(paths)
        self._fh: io.BufferedReader | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while True:
            if self._fh is None:
                if not self._paths:
                    return 0
                self._fh = self._paths.pop(0).open("rb")
            count: int = self._fh.readinto(target)
            if count:
                return count
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        super().close()


def _members(paths: list[Path], where: str, expect_sha256: str | None
             ) -> Iterator[tuple[Toc, tarfile.TarInfo | None, IO[bytes] | None]]:
    """Yield (toc, member, its bytes) for each member after the table; refuse hostile headers."""
    with PartsReader(paths) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        toc: Toc | None = None
        for member in tar:
            if not member.isreg():
                raise DeltaError(f"{where}: member {member.name!r} is not a regular file "
                                 f"(links, devices and directories are refused)")
            data = tar.extractfile(member)
            assert data is not None  # a regular file always has data
            if toc is None:
                if member.name != TOC_NAME or member.size > MAX_TOC_BYTES:
                    raise DeltaError(f"{where}: the first member must be {TOC_NAME}")
                toc = parse_toc(data.read(), where, expect_sha256)
                yield toc, None, None
                continue
            yield toc, member, data
        if toc is None:
            raise DeltaError(f"{where}: empty archive (no {TOC_NAME})")


def scan_delta(paths: list[Path], where: str, expect_sha256: str | None = None) -> Toc:
    """Pass one, writing nothing: every header safe, every member hashed against the table."""
    seen: set[str] = set()
    toc: Toc | None = None
    last_kind = BOTTLE
    try:
        for toc, member, data in _members(paths, where, expect_sha256):
            if member is None or data is None:
                continue
            name = member.name
            if name not in toc.members or name in seen:
                raise DeltaError(f"{where}: member {name!r} is not in {TOC_NAME} "
                                 f"(or appears twice)")
            kind = toc.kind(name)
            if kind is None or kind < last_kind:
                raise DeltaError(f"{where}: member {name!r} is out of order or not a layout key")
            last_kind = kind
            digest, size = hashlib.sha256(), 0
            while chunk := data.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            if (digest.hexdigest(), size) != toc.members[name]:
                raise DeltaError(f"{where}: member {name!r} does not match its sha256 and size "
                                 f"in {TOC_NAME} (tampered)")
            seen.add(name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DeltaError(f"{where}: unreadable or truncated tar: {exc}") from None
    assert toc is not None
    missing = [name for name in toc.members if name not in seen]
    if missing:
        raise DeltaError(f"{where}: {TOC_NAME} lists {missing[0]!r} but the tar lacks it "
                         f"(truncated?)")
    return toc


def import_delta(storage: Storage, path: Path, *, now: datetime | None = None,
                 expect_sha256: str | None = None,
                 sleep: Callable[[float], None] | None = None) -> ImportReport:
    """Scan the delta whole, then publish: bottles, manifest entries (CAS), indexes, API files."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    paths = part_paths(path)
    where = str(path)
    toc = scan_delta(paths, where, expect_sha256)
    report = ImportReport(run_id=new_run_id(when), delta=path.name, toc_sha256=toc.digest,
                          source_runs=[str(r) for r in toc.doc.get("runs", [])],
                          bottles=len(toc.entries), present=0)
    committed = False
    try:
        for _toc, member, data in _members(paths, where, toc.digest):
            if member is None or data is None:
                continue
            if member.name not in toc.members:
                raise DeltaError(f"{where}: member {member.name!r} appeared since the check")
            if not committed and toc.kind(member.name) != BOTTLE:
                committed = _commit(storage, toc, when, sleep)
            sha, size = toc.members[member.name]
            if storage.stored_sha256(member.name) == sha:
                report.present += toc.kind(member.name) == BOTTLE
                continue
            report.bytes += storage.put_verified(member.name, _chunks(data), sha, size_hint=size)
            report.written.append(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:  # the file changed since the scan
        raise DeltaError(f"{where}: unreadable on the second pass: {exc}") from None
    if not committed:
        _commit(storage, toc, when, sleep)
    _record(storage, report, toc, when)
    return report


def _chunks(data: IO[bytes]) -> Iterator[bytes]:
    """A member's bytes in bounded pieces."""
    while chunk := data.read(CHUNK):
        yield chunk


def _commit(storage: Storage, toc: Toc, when: datetime,
            sleep: Callable[[float], None] | None) -> bool:
    """Merge the delta's manifest entries by compare-and-swap (a concurrent sync keeps its own)."""
    if toc.entries:
        commit_entries(storage, toc.entries, now=iso(when), sleep=sleep or time.sleep)
    return True


def _record(storage: Storage, report: ImportReport, toc: Toc, when: datetime) -> None:
    """A dated run record, so the inside mirror's status page and a further export see it."""
    record = {
        "run_id": report.run_id, "kind": "import",
        "source": f"imported from {report.delta} ({toc.doc.get('source')}, "
                  f"runs {', '.join(report.source_runs) or 'none'})",
        "created_at": iso(when), "finished_at": iso(when), "toc_sha256": toc.digest,
        "selected": report.bottles, "present": report.present,
        "mirrored": report.bottles - report.present, "failed": 0, "failures": [],
        "planned_bytes": sum(e.get("size") or 0 for e in toc.entries.values()),
        "bytes": report.bytes, "route": "none", "added": sorted(toc.entries),
        **({"layout": layout_of(next(iter(toc.bottle_keys)))} if toc.bottle_keys else {}),
        "indexes_published": [n for n in toc.members if "/manifests/" in n]}
    storage.put_bytes(record_key(report.run_id), json.dumps(record, indent=1).encode())
