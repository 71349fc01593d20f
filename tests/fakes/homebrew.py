"""Fake Homebrew upstream: the formula.json catalogue, the ghcr.io registry and its blob host.

Server 1 (127.0.0.1) plays formulae.brew.sh and ghcr.io; server 2 (127.0.0.2) plays
pkg-containers.githubusercontent.com, where ghcr.io redirects blob downloads. See DESIGN.md §3.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import shutil
import socket
import struct
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .bottles import CHUNK, make_bottle, platform_for, seed_for, write_synthetic
from .signing import sign_jws

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
REGISTRY_PREFIX = "/v2/homebrew/core/"
CATALOGUE_PATH = "/api/formula.json"
API_PREFIX = "/api/"
BLOB_HOST_PREFIX = "/ghcr1/blobs/"
SLOW_CHUNK = 64 << 10
BODY_FAULTS = frozenset(
    {"reset", "truncate", "wrong_bytes", "wrong_length", "stall", "slow", "trickle"}
)
REPLACE_FAULTS = frozenset({"status", "html", "redirect_loop", "redirect_to"})
FAULT_KINDS = BODY_FAULTS | REPLACE_FAULTS
_POLL_INTERVAL = 0.02
_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Unicorn! \xc2\xb7 GitHub</title></head>"
    b"<body><h1>No server is currently available to service your request.</h1></body></html>\n"
)


@dataclass(frozen=True)
class FakeFormula:
    """One formula of the fake catalogue and the bottles it has."""

    name: str
    version: str
    revision: int = 0
    rebuild: int = 0
    tags: tuple[str, ...] = ("arm64_sequoia", "x86_64_linux")
    dependencies: tuple[str, ...] = ()
    deprecated: bool = False
    disabled: bool = False
    payload_size: int = 2048
    synthetic_size: int | None = None

    @property
    def pkgver(self) -> str:
        """`version`, or `version_revision` when revision > 0."""
        return f"{self.version}_{self.revision}" if self.revision > 0 else self.version

    @property
    def version_rebuild(self) -> str:
        """The manifest reference: `pkgver`, or `pkgver-rebuild` when rebuild > 0."""
        return f"{self.pkgver}-{self.rebuild}" if self.rebuild > 0 else self.pkgver

    @property
    def image(self) -> str:
        """The ghcr.io repository name under homebrew/core (`@`→`/`, `+`→`x`)."""
        return image_name(self.name)

    def file_name(self, tag: str) -> str:
        """brew's bottle file name: <name>-<pkgver>.<tag>.bottle[.<rebuild>].tar.gz."""
        rebuild = f".{self.rebuild}" if self.rebuild > 0 else ""
        return f"{self.name}-{self.pkgver}.{tag}.bottle{rebuild}.tar.gz"

    def ref_name(self, tag: str) -> str:
        """The `org.opencontainers.image.ref.name` annotation of one tag's manifest."""
        rebuild = f".{self.rebuild}" if self.rebuild > 0 else ""
        return f"{self.pkgver}.{tag}{rebuild}"


def image_name(name: str) -> str:
    """Map a formula name to its ghcr.io image name as brew does."""
    return name.replace("@", "/").replace("+", "x")


@dataclass(frozen=True)
class Recorded:
    """One request seen by the fake (status is what it answered, fault included)."""

    host: str
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass(frozen=True)
class _Blob:
    """A materialised bottle on disk."""

    path: Path
    sha256: str
    size: int
    synthetic: bool


@dataclass
class _Fault:
    """A pending fault and how many more requests it applies to (-1: forever)."""

    kind: str
    match: str
    remaining: int
    params: dict[str, Any]


@dataclass
class _Response:
    """What a route answers: status, headers, and a body in memory or a file range."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: Path | None = None
    offset: int = 0
    length: int = 0

    @property
    def size(self) -> int:
        """Length of the body in bytes."""
        return self.length if self.file is not None else len(self.body)


def _json_response(status: int, doc: Any, content_type: str = "application/json") -> _Response:
    """A JSON response."""
    return _Response(status, [("Content-Type", content_type)], json.dumps(doc).encode())


def _text_response(status: int, text: str, content_type: str = "text/plain") -> _Response:
    """A small text response."""
    return _Response(status, [("Content-Type", f"{content_type}; charset=utf-8")], text.encode())


def _registry_error(status: int, code: str, message: str) -> _Response:
    """An OCI distribution-spec error body."""
    resp = _json_response(status, {"errors": [{"code": code, "message": message}]})
    resp.headers.append(("Docker-Distribution-API-Version", "registry/2.0"))
    return resp


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse one `bytes=a-b` range: (start, end exclusive), None to ignore, (-1, -1) if past end."""
    unit, _, spec = header.partition("=")
    first, _, last = spec.strip().partition("-")
    if unit.strip() != "bytes" or "," in spec or not (first or last):
        return None
    try:
        if not first:
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
    except ValueError:
        return None
    return (start, end) if start < end else (-1, -1)


class _Server(ThreadingHTTPServer):
    """A quiet threading HTTP server that knows its fake and can drop every open connection."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeHomebrew, role: str) -> None:
        """Bind to `address`; `role` is "api" (catalogue + registry) or "blobs"."""
        self.fake = fake
        self.role = role
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)
        host, port = self.socket.getsockname()[:2]
        self.base_url = f"http://{host}:{port}"

    def track(self, conn: socket.socket, alive: bool) -> None:
        """Remember or forget an open client connection."""
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def drop_connections(self) -> None:
        """Shut down every open client connection (so keep-alive threads end)."""
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away; report real bugs."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError | ValueError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Request handler shared by both servers; the fake decides what to answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes
    server: _Server

    def setup(self) -> None:
        """Track the connection."""
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        """Forget the connection."""
        self.server.track(self.connection, alive=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def version_string(self) -> str:
        """Server header."""
        return "fake-homebrew"

    def do_GET(self) -> None:
        """GET."""
        self.server.fake._handle(self)

    def do_HEAD(self) -> None:
        """HEAD."""
        self.server.fake._handle(self)

    def do_POST(self) -> None:
        """POST (always 405, after draining the body)."""
        self._drain()
        self.server.fake._handle(self)

    do_PUT = do_POST
    do_DELETE = do_POST
    do_PATCH = do_POST

    def _drain(self) -> None:
        """Read and discard a request body."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)

    # --- sending -------------------------------------------------------------------------
    def send_reply(self, resp: _Response, fault: _Fault | None, stop: threading.Event) -> None:
        """Send `resp`, delivered the way `fault` (a body fault or None) says."""
        kind = fault.kind if fault else ""
        params = fault.params if fault else {}
        size = resp.size
        declared = size + int(params.get("extra", 1024)) if kind == "wrong_length" else size
        self.send_response(resp.status)
        for key, value in resp.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        if self.command == "HEAD" or size == 0:
            return
        if kind == "stall":
            stop.wait(float(params.get("seconds", 1.0)))
        if kind in ("reset", "truncate"):
            after = max(0, min(size - 1, int(params.get("after", size // 2))))
            self._write(resp, 0, after)
            if kind == "reset":
                stop.wait(0.05)  # let the partial body reach the client before the RST
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            self.close_connection = True
            return
        if kind == "trickle":  # hostile: one byte every `delay` s, for ever if need be
            self._trickle(resp, float(params.get("delay", 0.05)), stop)
            self.close_connection = True
            return
        flip = int(params.get("offset", size // 2)) if kind == "wrong_bytes" else -1
        delay = float(params.get("delay", 0.01)) if kind == "slow" else 0.0
        self._write(resp, 0, size, flip=flip, delay=delay, stop=stop)
        if kind == "wrong_length":
            self.close_connection = True

    def _trickle(self, resp: _Response, delay: float, stop: threading.Event) -> None:
        """Send the body one byte at a time until done, stopped or the client hangs up."""
        data = resp.body if resp.file is None else resp.file.read_bytes()[resp.offset :]
        for pos in range(min(len(data), resp.size)):
            if stop.wait(delay):
                return
            try:
                self.connection.sendall(data[pos : pos + 1])
            except OSError:
                return

    def _write(
        self,
        resp: _Response,
        start: int,
        end: int,
        flip: int = -1,
        delay: float = 0.0,
        stop: threading.Event | None = None,
    ) -> None:
        """Write body bytes [start, end), flipping byte `flip` and pausing `delay` per chunk."""
        if end <= start:
            return
        chunk_size = SLOW_CHUNK if delay > 0 else CHUNK
        if resp.file is None:
            view = memoryview(resp.body)
            chunks: Iterable[tuple[int, bytes | memoryview]] = (
                (pos, view[pos : min(end, pos + chunk_size)])
                for pos in range(start, end, chunk_size)
            )
            self._write_chunks(chunks, flip, delay, stop)
            return
        with resp.file.open("rb") as fh:
            if flip < 0 and delay <= 0:
                self.connection.sendfile(fh, resp.offset + start, end - start)
                return
            fh.seek(resp.offset + start)
            chunks = (
                (pos, fh.read(min(end, pos + chunk_size) - pos))
                for pos in range(start, end, chunk_size)
            )
            self._write_chunks(chunks, flip, delay, stop)

    def _write_chunks(
        self,
        chunks: Iterable[tuple[int, bytes | memoryview]],
        flip: int,
        delay: float,
        stop: threading.Event | None,
    ) -> None:
        """Send (position, data) chunks with the optional flip and delay."""
        for index, (pos, data) in enumerate(chunks):
            if delay > 0 and index > 0 and stop is not None:
                stop.wait(delay)
            if pos <= flip < pos + len(data):
                changed = bytearray(data)
                changed[flip - pos] ^= 0xFF
                self.connection.sendall(changed)
            else:
                self.connection.sendall(data)


class FakeHomebrew:
    """A real HTTP fake of formulae.brew.sh + ghcr.io + its blob host, with fault injection."""

    def __init__(
        self,
        formulae: Iterable[FakeFormula],
        token: str = "QQ==",
        workdir: Path | None = None,
        api_key: Any = None,
    ) -> None:
        """Describe the upstream; nothing listens and nothing is written until start()."""
        self._formulae: dict[str, FakeFormula] = {}
        for formula in formulae:
            if formula.name in self._formulae:
                raise ValueError(f"duplicate formula {formula.name!r}")
            self._formulae[formula.name] = formula
        self._by_image = {f.image: f for f in self._formulae.values()}
        self.token = token
        self._workdir = workdir
        self._dir: Path | None = None
        self._own_dir = False
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._blobs: dict[tuple[str, str], _Blob] = {}
        self._by_digest: dict[str, _Blob] = {}
        self._image_digests: dict[str, set[str]] = collections.defaultdict(set)
        self._faults: list[_Fault] = []
        self._replaced = 0
        self.source_url = ""
        self.root_url = ""
        self.blob_base = ""
        self.catalogue: list[dict[str, Any]] = []
        self.raw_catalogue: bytes | None = None
        self.requests: list[Recorded] = []
        self.auth_leaks: list[str] = []
        self.announced: dict[tuple[str, str], int] = {}  # hostile sh.brew.bottle.size overrides
        self.faults_served: collections.Counter[str] = collections.Counter()
        self.api_key = api_key  # an RSA private key: serve the signed API files under /api/
        # path under /api/ -> body served instead (None: answered 404, as upstream lacking it)
        self.api_overrides: dict[str, bytes | None] = {}
        self._signed: dict[tuple[str, str], bytes] = {}

    # --- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> FakeHomebrew:
        """Start and return self."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop."""
        self.stop()

    def start(self) -> FakeHomebrew:
        """Materialise every bottle, bind both servers and serve in daemon threads."""
        if self._servers:
            raise RuntimeError("FakeHomebrew already started")
        self._stopping.clear()
        if self._workdir is not None:
            self._workdir.mkdir(parents=True, exist_ok=True)
            self._dir = self._workdir
        else:
            self._dir = Path(tempfile.mkdtemp(prefix="fake-homebrew-"))
            self._own_dir = True
        try:
            api = _Server(("127.0.0.1", 0), self, "api")
            self._servers.append(api)
            blobs = _Server(("127.0.0.2", 0), self, "blobs")
            self._servers.append(blobs)
            self.source_url = f"http://127.0.0.1:{api.server_address[1]}{CATALOGUE_PATH}"
            self.root_url = f"http://127.0.0.1:{api.server_address[1]}/v2/homebrew/core"
            self.blob_base = f"http://127.0.0.2:{blobs.server_address[1]}"
            for formula in self._formulae.values():
                self._materialise(formula)
            self.catalogue = [self._entry(f) for f in self._formulae.values()]
        except BaseException:
            self.stop()
            raise
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_INTERVAL},
                name=f"fake-homebrew-{server.role}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and delete the temporary blob directory."""
        self._stopping.set()
        for server, thread in zip(self._servers, self._threads, strict=False):
            server.shutdown()
            thread.join(timeout=5)
        for server in self._servers:
            server.server_close()
            server.drop_connections()
        self._servers.clear()
        self._threads.clear()
        if self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._own_dir = False

    # --- bottles -------------------------------------------------------------------------
    def _materialise(self, formula: FakeFormula) -> None:
        """Write every bottle of `formula` to disk and index it."""
        assert self._dir is not None
        for tag in formula.tags:
            path = self._dir / formula.file_name(tag)
            if formula.synthetic_size is None:
                data = make_bottle(formula.name, formula.pkgver, tag, formula.payload_size)
                path.write_bytes(data)
                blob = _Blob(path, hashlib.sha256(data).hexdigest(), len(data), False)
            else:
                sha = self._synthetic(
                    path, seed_for(formula.name, formula.pkgver, tag), formula.synthetic_size
                )
                blob = _Blob(path, sha, formula.synthetic_size, True)
            self._index(formula, tag, blob)

    def _synthetic(self, path: Path, seed: bytes, size: int) -> str:
        """Generate a synthetic blob, reusing one already in a caller-given workdir."""
        sidecar = path.with_name(path.name + f".{size}.v1.sha256")
        reusable = self._workdir is not None and sidecar.exists() and path.exists()
        if reusable and path.stat().st_size == size:
            return sidecar.read_text().strip()
        sha = write_synthetic(path, seed, size)
        sidecar.write_text(sha + "\n")
        return sha

    def _index(self, formula: FakeFormula, tag: str, blob: _Blob) -> None:
        """Make `blob` the bottle of (formula, tag) and servable by digest."""
        with self._lock:
            self._blobs[(formula.name, tag)] = blob
            self._by_digest[blob.sha256] = blob
            self._image_digests[formula.image].add(blob.sha256)

    def _blob(self, name: str, tag: str) -> _Blob:
        """The current blob of (name, tag)."""
        try:
            return self._blobs[(name, tag)]
        except KeyError:
            raise KeyError(f"no bottle {name!r} {tag!r} (is the fake started?)") from None

    def blob(self, name: str, tag: str) -> bytes:
        """The bytes of that bottle (refused for synthetic blobs over 256 MiB)."""
        blob = self._blob(name, tag)
        if blob.size > 256 << 20:
            raise ValueError(f"{name} {tag} is {blob.size} bytes: use blob_path()")
        return blob.path.read_bytes()

    def blob_path(self, name: str, tag: str) -> Path:
        """Where that bottle's bytes are on disk (for large synthetic blobs)."""
        return self._blob(name, tag).path

    def sha256(self, name: str, tag: str) -> str:
        """The sha256 hex of that bottle (as the catalogue lists it)."""
        return self._blob(name, tag).sha256

    def size(self, name: str, tag: str) -> int:
        """The size in bytes of that bottle (as the manifest's sh.brew.bottle.size says)."""
        return self._blob(name, tag).size

    def file_name(self, name: str, tag: str) -> str:
        """brew's file name for that bottle."""
        return self._formula(name).file_name(tag)

    def formula(self, name: str) -> FakeFormula:
        """The FakeFormula called `name`."""
        return self._formula(name)

    def _formula(self, name: str) -> FakeFormula:
        """Look a formula up by name."""
        try:
            return self._formulae[name]
        except KeyError:
            raise KeyError(f"no formula {name!r}") from None

    def replace_blob(self, name: str, tag: str, data: bytes) -> None:
        """Give (name, tag) new bytes and sha in catalogue and manifest (old ones still served)."""
        formula = self._formula(name)
        if tag not in formula.tags:
            raise KeyError(f"{name} has no bottle for {tag!r}")
        assert self._dir is not None
        self._replaced += 1
        path = self._dir / f"{formula.file_name(tag)}.r{self._replaced}"
        path.write_bytes(data)
        blob = _Blob(path, hashlib.sha256(data).hexdigest(), len(data), False)
        self._index(formula, tag, blob)
        for entry in self.catalogue:
            if entry.get("name") == name:
                entry["bottle"]["stable"]["files"][tag] = self._file_entry(formula, tag)

    def set_formula(self, formula: FakeFormula) -> None:
        """Add a formula, or replace the one of that name (a new release), while running."""
        self._materialise(formula)
        self._formulae[formula.name] = formula
        self._by_image[formula.image] = formula
        entry = self._entry(formula)
        for index, old in enumerate(self.catalogue):
            if old.get("name") == formula.name:
                self.catalogue[index] = entry
                return
        self.catalogue.append(entry)

    # --- catalogue and manifests ---------------------------------------------------------
    def _file_entry(self, formula: FakeFormula, tag: str) -> dict[str, str]:
        """bottle.stable.files.<tag> of the catalogue."""
        sha = self._blob(formula.name, tag).sha256
        if tag == "all":
            cellar = ":any_skip_relocation"
        elif tag.endswith("_linux"):
            cellar = "/home/linuxbrew/.linuxbrew/Cellar"
        elif tag.startswith("arm64_"):
            cellar = ":any"
        else:
            cellar = "/usr/local/Cellar"
        url = f"{self.root_url}/{formula.image}/blobs/sha256:{sha}"
        return {"cellar": cellar, "url": url, "sha256": sha}

    def _entry(self, f: FakeFormula) -> dict[str, Any]:
        """One formula.json entry, with the fields the real API has."""
        source_sha = hashlib.sha256(f"{f.name}-{f.version}".encode()).hexdigest()
        return {
            "name": f.name,
            "full_name": f.name,
            "tap": "homebrew/core",
            "oldnames": [],
            "aliases": [],
            "versioned_formulae": [],
            "desc": f"Fake {f.name} for tests",
            "license": "MIT",
            "homepage": f"https://example.org/{f.name}",
            "versions": {"stable": f.version, "head": None, "bottle": True},
            "urls": {
                "stable": {
                    "url": f"https://example.org/{f.name}-{f.version}.tar.gz",
                    "tag": None,
                    "revision": None,
                    "using": None,
                    "checksum": source_sha,
                }
            },
            "revision": f.revision,
            "version_scheme": 0,
            "bottle": {
                "stable": {
                    "rebuild": f.rebuild,
                    "root_url": self.root_url,
                    "files": {tag: self._file_entry(f, tag) for tag in f.tags},
                }
            },
            "pour_bottle_only_if": None,
            "keg_only": False,
            "keg_only_reason": None,
            "options": [],
            "build_dependencies": [],
            "dependencies": list(f.dependencies),
            "test_dependencies": [],
            "recommended_dependencies": [],
            "optional_dependencies": [],
            "uses_from_macos": [],
            "uses_from_macos_bounds": [],
            "requirements": [],
            "conflicts_with": [],
            "conflicts_with_reasons": [],
            "link_overwrite": [],
            "caveats": None,
            "installed": [],
            "linked_keg": None,
            "pinned": False,
            "outdated": False,
            "deprecated": f.deprecated,
            "deprecation_date": "2025-01-01" if f.deprecated else None,
            "deprecation_reason": "unmaintained" if f.deprecated else None,
            "deprecation_replacement_formula": None,
            "deprecation_replacement_cask": None,
            "disabled": f.disabled,
            "disable_date": "2025-06-01" if f.disabled else None,
            "disable_reason": "unmaintained" if f.disabled else None,
            "disable_replacement_formula": None,
            "disable_replacement_cask": None,
            "post_install_defined": False,
            "service": None,
            "tap_git_head": "0" * 40,
            "ruby_source_path": f"Formula/{f.name[0]}/{f.name}.rb",
            "ruby_source_checksum": {"sha256": source_sha},
        }

    def _index_manifest(self, f: FakeFormula) -> dict[str, Any]:
        """The OCI image index ghcr.io serves for `f` at its version_rebuild."""
        manifests = []
        for tag in f.tags:
            blob = self._blob(f.name, tag)
            tab = json.dumps(
                {"homebrew_version": "4.6.0", "arch": platform_for(tag)["architecture"]}
            )
            inner = hashlib.sha256(f"manifest:{blob.sha256}".encode()).hexdigest()
            manifests.append(
                {
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "digest": f"sha256:{inner}",
                    "size": 1500 + len(tag),
                    "platform": platform_for(tag),
                    "annotations": {
                        "org.opencontainers.image.ref.name": f.ref_name(tag),
                        "sh.brew.bottle.cpu.variant": "",
                        "sh.brew.bottle.digest": blob.sha256,
                        "sh.brew.bottle.size": str(self.announced.get((f.name, tag), blob.size)),
                        "sh.brew.tab": tab,
                    },
                }
            )
        return {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": manifests,
            "annotations": {
                "com.github.package.type": "homebrew_bottle",
                "org.opencontainers.image.created": "2025-01-01",
                "org.opencontainers.image.description": f"Fake {f.name} for tests",
                "org.opencontainers.image.documentation": f"https://formulae.brew.sh/formula/{f.name}",
                "org.opencontainers.image.license": "MIT",
                "org.opencontainers.image.ref.name": f.version_rebuild,
                "org.opencontainers.image.revision": "0" * 40,
                "org.opencontainers.image.source": "https://github.com/Homebrew/homebrew-core",
                "org.opencontainers.image.title": f"{f.name} {f.pkgver}",
                "org.opencontainers.image.url": f"https://example.org/{f.name}",
                "org.opencontainers.image.vendor": "homebrew",
                "org.opencontainers.image.version": f.pkgver,
            },
        }

    # --- routing -------------------------------------------------------------------------
    def _route(self, role: str, method: str, raw_path: str, handler: _Handler) -> _Response:
        """Answer a request as the real upstream would."""
        path = unquote(urlsplit(raw_path).path)
        if role == "blobs":
            return self._route_blob_host(method, raw_path, path, handler)
        if method not in ("GET", "HEAD"):
            return _text_response(405, "method not allowed\n")
        if path == CATALOGUE_PATH:
            body = self.raw_catalogue
            if body is None:
                body = json.dumps(self.catalogue).encode()
            return _Response(200, [("Content-Type", "application/json; charset=utf-8")], body)
        if path.startswith(REGISTRY_PREFIX):
            return self._route_registry(path[len(REGISTRY_PREFIX) :], handler)
        if path.startswith(API_PREFIX):
            body = self.api_file(path[len(API_PREFIX) :])
            if body is not None:
                return _Response(200, [("Content-Type", "application/json")], body)
        return _text_response(404, "404 page not found\n")

    # --- the signed JSON API (only with api_key) -----------------------------------------
    def api_payloads(self) -> dict[str, str]:
        """Path under /api/ -> the JSON text of each API file, as formulae.brew.sh lays them out."""
        entries = {e["name"]: e for e in self.catalogue}
        files = {
            "formula.jws.json": json.dumps(self.catalogue),
            "formula_tap_migrations.jws.json": "{}",
            "cask.jws.json": "[]",
            "cask_tap_migrations.jws.json": "{}",
        }
        tags = {t for f in self._formulae.values() for t in f.tags if t != "all"}
        for tag in sorted(tags):
            formulae = {n: e for n, e in entries.items()
                        if {tag, "all"} & set(e["bottle"]["stable"]["files"])}
            files[f"internal/packages.{tag}.jws.json"] = json.dumps({
                "metadata": {"tag": tag}, "formulae": formulae, "casks": {},
                "formula_aliases": {}, "formula_renames": {}, "tap_git_heads": {},
                "tap_migrations": {}})
        for name, entry in entries.items():
            files[f"formula/{name}.json"] = json.dumps(entry)
        return files

    def api_file(self, path: str) -> bytes | None:
        """The body of one API file (signed once per payload, so repeated GETs are identical)."""
        if path in self.api_overrides:
            return self.api_overrides[path]
        if self.api_key is None:
            return None
        payload = self.api_payloads().get(path)
        if payload is None:
            return None
        if not path.endswith(".jws.json"):
            return payload.encode()
        with self._lock:
            if (path, payload) not in self._signed:
                self._signed[(path, payload)] = sign_jws(payload, self.api_key)
            return self._signed[(path, payload)]

    def _route_registry(self, rest: str, handler: _Handler) -> _Response:
        """ghcr.io: the OCI image index and blob redirects, both behind the bearer token."""
        if "/manifests/" in rest:
            image, _, ref = rest.rpartition("/manifests/")
        elif "/blobs/" in rest:
            image, _, ref = rest.rpartition("/blobs/")
        else:
            return _registry_error(404, "NAME_UNKNOWN", "repository name not known to registry")
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            resp = _registry_error(401, "UNAUTHORIZED", "authentication required")
            challenge = (
                'Bearer realm="https://ghcr.io/token",service="ghcr.io",'
                f'scope="repository:homebrew/core/{image}:pull"'
            )
            resp.headers.append(("WWW-Authenticate", challenge))
            return resp
        if "/manifests/" in rest:
            return self._manifest(image, ref, handler)
        digest = ref.removeprefix("sha256:")
        if not ref.startswith("sha256:") or digest not in self._image_digests.get(image, ()):
            return _registry_error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        location = f"{self.blob_base}{BLOB_HOST_PREFIX}sha256:{digest}?se=2026&sig=s3cr3t"
        return _Response(
            307,
            [
                ("Location", location),
                ("Content-Type", "text/html; charset=utf-8"),
                ("Docker-Distribution-API-Version", "registry/2.0"),
            ],
        )

    def _manifest(self, image: str, ref: str, handler: _Handler) -> _Response:
        """The OCI image index of `image` at `ref`, only for an Accept that asks for it."""
        accept = ",".join(handler.headers.get_all("Accept") or [])
        formula = self._by_image.get(image)
        if formula is None or ref != formula.version_rebuild or INDEX_MEDIA_TYPE not in accept:
            return _registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        body = json.dumps(self._index_manifest(formula), indent=2).encode()
        return _Response(
            200,
            [
                ("Content-Type", INDEX_MEDIA_TYPE),
                ("Docker-Content-Digest", f"sha256:{hashlib.sha256(body).hexdigest()}"),
                ("Docker-Distribution-API-Version", "registry/2.0"),
            ],
            body,
        )

    def _route_blob_host(
        self, method: str, raw_path: str, path: str, handler: _Handler
    ) -> _Response:
        """pkg-containers: blob bytes; any Authorization header is a leak and gets a 400."""
        if "Authorization" in handler.headers:
            with self._lock:
                self.auth_leaks.append(urlsplit(raw_path).path)
            return _text_response(
                400, "<Error><Code>InvalidAuthenticationInfo</Code></Error>\n", "application/xml"
            )
        if method not in ("GET", "HEAD"):
            return _text_response(405, "method not allowed\n")
        blob = None
        if path.startswith(BLOB_HOST_PREFIX + "sha256:"):
            blob = self._by_digest.get(path[len(BLOB_HOST_PREFIX) + len("sha256:") :])
        if blob is None:
            return _text_response(
                404, "<Error><Code>BlobNotFound</Code></Error>\n", "application/xml"
            )
        headers = [
            ("Content-Type", "application/octet-stream"),
            ("Accept-Ranges", "bytes"),
            ("ETag", f'"{blob.sha256[:32]}"'),
        ]
        range_header = handler.headers.get("Range")
        span = _parse_range(range_header, blob.size) if range_header else None
        if span == (-1, -1):
            headers.append(("Content-Range", f"bytes */{blob.size}"))
            return _Response(416, headers)
        if span is not None:
            start, end = span
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{blob.size}"))
            return _Response(206, headers, file=blob.path, offset=start, length=end - start)
        return _Response(200, headers, file=blob.path, length=blob.size)

    # --- faults --------------------------------------------------------------------------
    def fault(self, kind: str, match: str = "", times: int = 1, **params: Any) -> None:
        """Serve fault `kind` to the next `times` requests whose path contains `match` (-1: all)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times == 0 or times < -1:
            raise ValueError(f"times must be >= 1 or -1, not {times}")
        if kind == "status" and "code" not in params:
            raise ValueError("fault 'status' needs code=")
        if kind == "redirect_to" and "url" not in params:
            raise ValueError("fault 'redirect_to' needs url=")
        with self._lock:
            self._faults.append(_Fault(kind, match, times, dict(params)))

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str, method: str, resp: _Response) -> _Fault | None:
        """Consume the first pending fault that matches and applies to this response."""
        has_body = method == "GET" and resp.status in (200, 206) and resp.size > 0
        with self._lock:
            for fault in self._faults:
                if fault.match not in path or (fault.kind in BODY_FAULTS and not has_body):
                    continue
                if fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                self.faults_served[fault.kind] += 1
                return fault
        return None

    def _fault_response(self, fault: _Fault, handler: _Handler) -> _Response:
        """The response that replaces the normal one for status/html/redirect faults."""
        if fault.kind == "status":
            code = int(fault.params["code"])
            try:
                phrase = HTTPStatus(code).phrase
            except ValueError:
                phrase = "Error"
            resp = _text_response(code, f"{code} {phrase}\n")
            if fault.params.get("retry_after") is not None:
                resp.headers.append(("Retry-After", str(fault.params["retry_after"])))
            return resp
        if fault.kind == "html":
            return _Response(200, [("Content-Type", "text/html; charset=utf-8")], _HTML_PAGE)
        if fault.kind == "redirect_loop":
            location = f"{handler.server.base_url}{handler.path}"
        else:
            location = str(fault.params["url"])
        return _Response(307, [("Location", location), ("Content-Type", "text/plain")])

    def _handle(self, handler: _Handler) -> None:
        """Route, apply any fault, record, then send."""
        role = handler.server.role
        method = handler.command
        resp = self._route(role, method, handler.path, handler)
        fault = self._take_fault(handler.path, method, resp)
        if fault is not None and fault.kind in REPLACE_FAULTS:
            resp = self._fault_response(fault, handler)
            fault = None
        if role == "blobs":
            host = "blobs"
        else:
            host = "registry" if handler.path.startswith("/v2/") else "api"
        record = Recorded(host, method, handler.path, dict(handler.headers.items()), resp.status)
        with self._lock:
            self.requests.append(record)
        handler.send_reply(resp, fault, self._stopping)

    def count(self, kind: str, method: str | None = "GET") -> int:
        """How many `method` requests (None: any) of kind catalogue|manifest|blob|blob_host came."""
        if kind not in ("catalogue", "manifest", "blob", "blob_host"):
            raise ValueError(f"unknown kind {kind!r}")

        def matches(r: Recorded) -> bool:
            path = urlsplit(r.path).path
            if kind == "catalogue":
                return r.host == "api" and unquote(path) == CATALOGUE_PATH
            if kind == "manifest":
                return r.host == "registry" and "/manifests/" in path
            if kind == "blob":
                return r.host == "registry" and "/blobs/" in path
            return r.host == "blobs"

        with self._lock:
            seen = list(self.requests)
        return sum(1 for r in seen if (method is None or r.method == method) and matches(r))


def free_port_url() -> str:
    """`http://127.0.0.1:<port>/` of a port that nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class ConditionalHomebrew(FakeHomebrew):
    """The fake, answering the catalogue with an ETag and 304 to a matching If-None-Match."""

    def _route(self, role: str, method: str, raw_path: str, handler: _Handler) -> _Response:
        resp = super()._route(role, method, raw_path, handler)
        if raw_path.split("?")[0] != CATALOGUE_PATH or resp.status != 200:
            return resp
        etag = '"' + hashlib.sha256(json.dumps(self.catalogue).encode()).hexdigest()[:16] + '"'
        if handler.headers.get("If-None-Match") == etag:
            return _Response(304, [("ETag", etag)], b"")
        resp.headers.append(("ETag", etag))
        return resp


def answer_conditionally(fake: FakeHomebrew) -> None:
    """Turn a running fake (e.g. the `homebrew` fixture) into a ConditionalHomebrew."""
    fake.__class__ = ConditionalHomebrew
