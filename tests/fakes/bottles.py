"""Deterministic Homebrew bottles: real tar.gz archives and large synthetic blobs."""

from __future__ import annotations

import hashlib
import json
import random
import tarfile
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_BASE_SIZE = 4 << 20
_KEY_SIZE = 32

_MACOS_VERSIONS = {
    "tahoe": "26",
    "sequoia": "15",
    "sonoma": "14",
    "ventura": "13",
    "monterey": "12",
    "big_sur": "11",
}


def platform_for(tag: str) -> dict[str, str]:
    """OCI platform (architecture, os, os.version) of a bottle tag, as ghcr.io lists it."""
    if tag == "all":
        return {"architecture": "all", "os": "all"}
    if tag.endswith("_linux"):
        arch = "arm64" if tag.startswith("arm64") else "amd64"
        return {"architecture": arch, "os": "linux"}
    arch = "arm64" if tag.startswith("arm64_") else "amd64"
    codename = tag.removeprefix("arm64_")
    version = _MACOS_VERSIONS.get(codename, "15")
    return {"architecture": arch, "os": "darwin", "os.version": f"macOS {version}"}


def seed_for(name: str, pkgver: str, tag: str) -> bytes:
    """Stable seed for one bottle (independent of PYTHONHASHSEED and of the process)."""
    return hashlib.sha256(f"{name}\0{pkgver}\0{tag}".encode()).digest()


def payload_bytes(seed: bytes, size: int) -> bytes:
    """`size` pseudo-random bytes fully determined by `seed`."""
    return random.Random(int.from_bytes(seed, "big")).randbytes(size)


def _receipt(name: str, pkgver: str, tag: str) -> bytes:
    """A plausible INSTALL_RECEIPT.json for the bottle."""
    plat = platform_for(tag)
    receipt = {
        "homebrew_version": "4.6.0",
        "used_options": [],
        "unused_options": [],
        "built_as_bottle": True,
        "poured_from_bottle": False,
        "loaded_from_api": False,
        "installed_as_dependency": False,
        "installed_on_request": True,
        "changed_files": [],
        "time": None,
        "source_modified_time": 0,
        "compiler": "clang" if plat["os"] == "darwin" else "gcc-12",
        "aliases": [],
        "runtime_dependencies": [],
        "source": {
            "path": f"@@HOMEBREW_PREFIX@@/Library/Taps/homebrew/homebrew-core/Formula/"
            f"{name[0]}/{name}.rb",
            "tap": "homebrew/core",
            "spec": "stable",
            "versions": {"stable": pkgver.split("_")[0], "head": None, "version_scheme": 0},
        },
        "arch": plat["architecture"],
        "built_on": {"os": plat["os"], "os_version": plat.get("os.version", ""), "tag": tag},
    }
    return json.dumps(receipt, sort_keys=True).encode() + b"\n"


def _header(path: str, size: int, mode: int, typeflag: bytes) -> bytes:
    """A ustar header block: uid/gid 0, no owner names, mtime 0."""
    raw = path.encode()
    if len(raw) > 100:
        raise ValueError(f"tar member name over 100 bytes: {path!r}")
    block = b"".join(
        (
            raw.ljust(100, b"\0"),
            b"%07o\0" % mode,
            b"0000000\0",  # uid
            b"0000000\0",  # gid
            b"%011o\0" % size,
            b"00000000000\0",  # mtime
            b" " * 8,  # checksum placeholder
            typeflag,
            b"\0" * 100,  # linkname
            b"ustar\x0000",
            b"\0" * 64,  # uname, gname
            b"0000000\0" * 2,  # devmajor, devminor
        )
    ).ljust(_BLOCK, b"\0")
    checksum = b"%06o\0 " % sum(block)
    return block[:148] + checksum + block[156:]


def _tar(entries: list[tuple[str, bytes | None, int]]) -> bytes:
    """A ustar archive of (path, data or None for a directory, mode) entries, record-padded."""
    parts: list[bytes] = []
    for path, data, mode in entries:
        if data is None:
            parts.append(_header(path, 0, mode, tarfile.DIRTYPE))
        else:
            parts.append(_header(path, len(data), mode, tarfile.REGTYPE))
            parts.append(data)
            parts.append(b"\0" * (-len(data) % _BLOCK))
    parts.append(b"\0" * (2 * _BLOCK))
    archive = b"".join(parts)
    return archive + b"\0" * (-len(archive) % tarfile.RECORDSIZE)


def make_bottle(name: str, pkgver: str, tag: str, payload_size: int) -> bytes:
    """Build a real, byte-for-byte reproducible bottle `.tar.gz` for name/pkgver/tag."""
    if payload_size < 0:
        raise ValueError(f"payload_size must be >= 0, not {payload_size}")
    root = f"{name}/{pkgver}"
    archive = _tar(
        [
            (f"{name}/", None, 0o755),
            (f"{root}/", None, 0o755),
            (f"{root}/INSTALL_RECEIPT.json", _receipt(name, pkgver, tag), 0o644),
            (f"{root}/bin/", None, 0o755),
            (f"{root}/bin/{name}", payload_bytes(seed_for(name, pkgver, tag), payload_size), 0o755),
        ]
    )
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip wrapper: mtime 0, no file name
    return gz.compress(archive) + gz.flush()


def synthetic_chunks(seed: bytes, size: int) -> Iterator[memoryview]:
    """Yield `size` deterministic pseudo-random bytes in 1 MiB chunks, at GB/s speed.

    Up to 4 MiB the bytes are plain seeded random. Beyond, each chunk is a per-chunk 32-byte key
    then a window of a 4 MiB random base block at a key-derived offset: no two chunks are equal
    and nothing large is held in memory.
    """
    if size <= _BASE_SIZE:
        small = memoryview(payload_bytes(seed, size))
        for start in range(0, size, CHUNK):
            yield small[start : start + CHUNK]
        return
    base = payload_bytes(seed, _BASE_SIZE)
    doubled = memoryview(base + base)
    done = 0
    index = 0
    while done < size:
        n = min(CHUNK, size - done)
        key = hashlib.sha256(seed + index.to_bytes(8, "big")).digest()
        offset = int.from_bytes(key[:4], "big") % _BASE_SIZE
        chunk = bytearray(key[: min(n, _KEY_SIZE)])
        if n > _KEY_SIZE:
            chunk += doubled[offset : offset + n - _KEY_SIZE]
        yield memoryview(chunk)
        done += n
        index += 1


def write_synthetic(path: Path, seed: bytes, size: int) -> str:
    """Write `size` synthetic bytes to `path` chunk by chunk; return their sha256 hex.

    Writing runs in a helper thread while the next chunk is hashed (both release the GIL).
    """
    digest = hashlib.sha256()
    if size <= CHUNK:
        data = payload_bytes(seed, size)
        path.write_bytes(data)
        digest.update(data)
        return digest.hexdigest()
    with path.open("wb") as fh, ThreadPoolExecutor(1) as writer:
        pending: Future[int] | None = None
        for chunk in synthetic_chunks(seed, size):
            submitted = writer.submit(fh.write, chunk)
            digest.update(chunk)
            if pending is not None:
                pending.result()
            pending = submitted
        if pending is not None:
            pending.result()
    return digest.hexdigest()
