"""Export: stream the bottles added since a day or a run, with a hash table, into one tar."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bottlesync.bottle import DAY_RE, RUN_ID_RE
from bottlesync.delta import API_KEY_RE, INDEX_KEY_RE, TOC_FORMAT, TOC_NAME, toc_digest
from bottlesync.errors import ConfigError, DeltaError, StorageError
from bottlesync.manifest import load_manifest
from bottlesync.records import day_of_run, iter_records, record_ids
from bottlesync.storage import Storage


@dataclass
class ExportReport:
    """What went into the delta (nothing when the range was empty)."""

    runs: list[str]
    bottles: int
    members: int
    bytes: int
    toc_sha256: str
    parts: list[str]


def select_runs(storage: Storage, *, since: str | None, run: str | None) -> list[tuple[str, str]]:
    """Run records from day `since` on, or runs started no earlier than `run` (it included)."""
    if (since is None) == (run is None):
        raise ConfigError("export needs exactly one of --since YYYY-MM-DD or --run RUN_ID")
    if since is not None and not DAY_RE.fullmatch(since):
        raise ConfigError(f"--since {since!r} is not YYYY-MM-DD")
    if run is not None and not RUN_ID_RE.fullmatch(run):
        raise ConfigError(f"--run {run!r} is not <YYYYMMDDTHHMMSSZ>-<8 hex>")
    records = record_ids(storage)
    if run is not None:
        if run not in {run_id for run_id, _ in records}:
            raise ConfigError(f"--run {run}: {storage.base} has no run record of that run")
        return [(r, k) for r, k in records if r[:16] >= run[:16]]  # same second: include
    return [(r, k) for r, k in records if day_of_run(r) >= str(since)]


def plan_members(storage: Storage, records: list[dict[str, Any]]
                 ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The manifest entries the records added (still listed) and the OCI indexes they published."""
    manifest, _ = load_manifest(storage)
    entries: dict[str, dict[str, Any]] = {}
    indexes: set[str] = set()
    for record in records:
        for file in record.get("added") or []:
            if isinstance(file, str) and file in manifest.bottles:
                entries[file] = manifest.bottles[file]
        for key in record.get("indexes_published") or []:
            if isinstance(key, str) and INDEX_KEY_RE.fullmatch(key):
                indexes.add(key)
    return entries, sorted(indexes)


def export_delta(storage: Storage, out: Path, *, since: str | None = None,
                 run: str | None = None, split_size: int | None = None,
                 now: str) -> ExportReport | None:
    """Write the delta (or its parts); None, and no file, when the range added nothing."""
    chosen = select_runs(storage, since=since, run=run)
    entries, indexes = plan_members(storage, list(iter_records(storage, chosen)))
    if not entries and not indexes:
        return None
    members = [(e["key"], e["sha256"], e["size"]) if type(e.get("size")) is int
               else (e["key"], *_hash(storage, e["key"])) for e in entries.values()]
    extra = indexes + sorted(k for k in storage.list("api/") if API_KEY_RE.fullmatch(k))
    members += [(key, *_hash(storage, key)) for key in extra
                if storage.stored_sha256(key) is not None]  # an index pruned since is skipped
    doc: dict[str, Any] = {
        "format": TOC_FORMAT, "created_at": now, "source": storage.base,
        "runs": [r for r, _ in chosen], "since": since or run,
        "members": [{"name": n, "sha256": s, "size": z} for n, s, z in members],
        "entries": dict(sorted(entries.items()))}
    doc["toc_sha256"] = toc_digest(doc)
    writer = PartWriter(out, split_size)
    try:
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            toc = json.dumps(doc, indent=1).encode()
            tar.addfile(_info(TOC_NAME, len(toc)), io.BytesIO(toc))
            for name, sha, size in members:
                reader = HashingReader(storage.iter_chunks(name))
                tar.addfile(_info(name, size), reader)
                reader.check(storage.describe(name), sha, size)
        writer.close()
    except BaseException:
        writer.discard()
        raise
    return ExportReport(runs=doc["runs"], bottles=len(entries), members=len(members),
                        bytes=sum(size for _, _, size in members), toc_sha256=doc["toc_sha256"],
                        parts=[str(p) for p in writer.paths])


def _hash(storage: Storage, key: str) -> tuple[str, int]:
    """sha256 and size of a stored object, streamed."""
    digest, size = hashlib.sha256(), 0
    for chunk in storage.iter_chunks(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _info(name: str, size: int) -> tarfile.TarInfo:
    """A plain, reproducible regular-file header."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info


class HashingReader(io.RawIOBase):
    """A file object over storage chunks that hashes what tarfile copies out of it."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        """Fill `target` whole unless the object ends: tarfile takes a short read for a cut."""
        filled = 0
        while filled < len(target):
            if not self._buffer:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buffer = memoryview(chunk)  # slices below copy nothing
            count = min(len(target) - filled, len(self._buffer))
            target[filled:filled + count] = self._buffer[:count]
            self.digest.update(self._buffer[:count])
            self._buffer = self._buffer[count:]
            filled += count
        self.size += filled
        return filled

    def check(self, where: str, sha256: str, size: int) -> None:
        """The bytes copied (and nothing after them) must be the manifest's bottle."""
        trailing = self.read(1)
        if trailing or self.size != size or self.digest.hexdigest() != sha256:
            raise DeltaError(f"{where}: stored bytes do not match the manifest's sha256 {sha256} "
                             f"and size {size} (run `bottlesync verify --repair`)")


class PartWriter(io.RawIOBase):
    """The output file, or numbered parts `<out>.000`, `<out>.001`... of at most `split_size`."""

    def __init__(self, out: Path, split_size: int | None) -> None:
        self.out, self.split_size = out, split_size
        self.paths: list[Path] = []
        self._fh: IO[bytes] | None = None
        self._written = 0

    def writable(self) -> bool:
        return True

    def _next(self) -> IO[bytes]:
        if self._fh is not None:
            self._fh.close()
        path = self.out if self.split_size is None else Path(f"{self.out}.{len(self.paths):03d}")
        try:
            self._fh = path.open("xb")
        except OSError as exc:
            raise StorageError(f"{path}: cannot create: {exc.strerror}") from None
        self.paths.append(path)
        self._written = 0
        return self._fh

    def write(self, data: Any) -> int:
        view = memoryview(data)
        while view:
            fh = self._fh or self._next()
            room = len(view) if self.split_size is None else self.split_size - self._written
            if room <= 0:
                self._next()
                continue
            fh.write(view[:room])
            self._written += min(room, len(view))
            view = view[room:]
        return len(data)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        super().close()

    def discard(self) -> None:
        """Remove every part written so far (a failed export leaves no file)."""
        self.close()
        for path in self.paths:
            path.unlink(missing_ok=True)
