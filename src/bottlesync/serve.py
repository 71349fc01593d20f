"""`bottlesync serve`: a small static server for a local mirror, with what brew's curl relies on."""

from __future__ import annotations

import email.utils
import logging
import os
import re
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO
from urllib.parse import unquote, urlsplit

from bottlesync.storage import LocalStorage

log = logging.getLogger(__name__)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CHUNK = 1 << 20
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")
_TYPES = ((".json", "application/json"), (".html", "text/html; charset=utf-8"),
          (".tar.gz", "application/gzip"))


def content_type(key: str) -> str:
    """OCI index media type for manifests/, else by extension; bytes otherwise."""
    if "/manifests/" in f"/{key}":
        return OCI_INDEX
    return next((kind for ext, kind in _TYPES if key.endswith(ext)), "application/octet-stream")


def key_of(target: str) -> str | None:
    """The storage key a request target names (percent-decoded), or None when it cannot be one."""
    try:
        key = unquote(urlsplit(target).path, errors="strict")
    except UnicodeDecodeError:
        return None
    return key.removeprefix("/") or None


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=` range; None for one we serve in full (RFC 9110
    lets a server ignore a range it does not support); ValueError when unsatisfiable."""
    match = _RANGE_RE.fullmatch(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        if int(last) == 0:
            raise ValueError(header)
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise ValueError(header)
    return (start, end) if end >= start else None


class MirrorHandler(BaseHTTPRequestHandler):
    """GET and HEAD of the mirror's files; never a listing, .bottlesync/ or outside the root."""

    server: MirrorServer
    protocol_version = "HTTP/1.1"
    server_version = "bottlesync"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        """Look up the file and reply; the Authorization header is never read."""
        key = key_of(self.path)
        opened = self.server.storage.open_public(key) if key else None
        if opened is None:
            self._status(HTTPStatus.NOT_FOUND, body)
            return
        handle, info = opened
        with handle:
            self._send_file(key or "", handle, info, body)

    def _status(self, status: HTTPStatus, body: bool, extra: dict[str, str] | None = None) -> None:
        """A short plain-text reply."""
        text = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if body:
            self.wfile.write(text)

    def _not_modified(self, etag: str, mtime: int) -> bool:
        """If-None-Match (which wins when present), else If-Modified-Since."""
        match = self.headers.get("If-None-Match")
        if match is not None:
            tags = [t.strip().removeprefix("W/") for t in match.split(",")]
            return "*" in tags or etag in tags
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            when = email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        return when.tzinfo is not None and mtime <= int(when.timestamp())

    def _send_file(self, key: str, handle: IO[bytes], info: os.stat_result, body: bool) -> None:
        """200, 206, 304 or 416 with validators, then the bytes (GET only)."""
        size, mtime = info.st_size, int(info.st_mtime)
        etag = f'"{size:x}-{info.st_mtime_ns:x}"'
        validators = {"ETag": etag, "Last-Modified": email.utils.formatdate(mtime, usegmt=True),
                      "Accept-Ranges": "bytes"}
        if self._not_modified(etag, mtime):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            for name, value in validators.items():
                self.send_header(name, value)
            self.end_headers()
            return
        span: tuple[int, int] | None = None
        requested = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if requested and (if_range is None or if_range.strip() in (etag, validators[
                "Last-Modified"])):
            try:
                span = byte_range(requested, size)
            except ValueError:
                self._status(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, body,
                             {"Content-Range": f"bytes */{size}", **validators})
                return
        first, last = span or (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if span else HTTPStatus.OK)
        self.send_header("Content-Type", content_type(key))
        self.send_header("Content-Length", str(last - first + 1))
        if span:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        for name, value in validators.items():
            self.send_header(name, value)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self._copy(handle, first, last - first + 1)

    def _copy(self, handle: IO[bytes], offset: int, length: int) -> None:
        """Stream `length` bytes from `offset`; a client that hangs up is not an error."""
        handle.seek(offset)
        try:
            while length > 0:
                chunk = handle.read(min(CHUNK, length))
                if not chunk:
                    break
                self.wfile.write(chunk)
                length -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class MirrorServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one local mirror."""

    daemon_threads = True

    def __init__(self, storage: LocalStorage, address: tuple[str, int]) -> None:
        self.storage = storage
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, MirrorHandler)

    @property
    def url(self) -> str:
        """http://host:port/ as a client would write it."""
        host, port = self.socket.getsockname()[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
