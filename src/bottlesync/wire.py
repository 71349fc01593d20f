"""A lean HTTP/1.1 client for GETs: pooled keep-alive connections, bodies framed by
Content-Length or chunked encoding, and nothing else (no redirects, cookies, proxies, decoding).

A small bottle is two exchanges (registry, then blob host). Through urllib3 each cost 0.7 ms of
CPU (http.client parses every header block with the email package; urllib3 adds its pool and
URL bookkeeping), three times what curl spends on the whole bottle. Here an exchange is a few
C-level reads and one split per header line. transport.LeanTransport is its only user.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAX_LINE = 64 << 10  # a status, header or chunk-size line longer than this is hostile
MAX_HEADERS = 128
MAX_INTERIM = 8  # 1xx answers before the real one: more is a server stalling us
SLACK = 1.0  # seconds a line may overrun its deadline (see _Timed.readinto)
BUFFER = 64 << 10
DEFAULT_PORTS = {"http": 80, "https": 443}
STALE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, ssl.SSLEOFError,
         ssl.SSLZeroReturnError)  # what a kept connection the server closed raises
Origin = tuple[str, str, int]


class WireError(Exception):
    """The server broke HTTP/1.1 (a bad status line, header, length or chunk), or the request
    could not be written as one."""


class Headers(Mapping[str, str]):
    """Response headers by lower-case name; repeated ones joined by ", " (as http.client does)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


class Connection:
    """One socket to an origin, read through a buffer; a line (an answer's whole head, a chunk
    size) must arrive within the read timeout however slowly its bytes trickle."""

    def __init__(self, origin: Origin, sock: socket.socket, timeout: float) -> None:
        self.origin = origin
        self.sock = sock
        self.raw = _Timed(sock, timeout)
        self.reader = io.BufferedReader(self.raw, BUFFER)

    def close(self) -> None:
        """Close the socket (its reader first)."""
        self.reader.close()
        self.sock.close()

    def line(self, deadline: float | None = None) -> bytes:
        """One CRLF-terminated line (b"" at EOF) by `deadline` (default: one read timeout from
        now); WireError past MAX_LINE or cut by EOF, TimeoutError past the deadline."""
        self.raw.deadline = time.monotonic() + self.raw.timeout if deadline is None else deadline
        try:
            line = self.reader.readline(MAX_LINE + 1)
        finally:
            self.raw.deadline = None
        if len(line) > MAX_LINE:
            raise WireError(f"a line longer than {MAX_LINE} bytes")
        if line and not line.endswith(b"\n"):
            raise WireError("the connection closed inside a line")
        return line


class _Timed(io.RawIOBase):
    """The socket as raw input: while a `deadline` is set, each receive waits only for what is
    left of it, give or take SLACK (a socket's own timeout bounds one receive, not a line of
    one-byte receives)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self.timeout = timeout
        self.deadline: float | None = None

    def readable(self) -> bool:
        """An input stream."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """One receive, by the deadline when one is set."""
        if self.deadline is None:
            return self._sock.recv_into(buffer)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"a line of the answer took longer than {self.timeout:g} s")
        if left > self.timeout - SLACK:  # the socket's own timeout ends this receive within
            return self._sock.recv_into(buffer)  # SLACK of the deadline: no timeout changes
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(self.timeout)


class Pool:
    """Idle keep-alive connections by origin, at most `size` kept per origin; thread-safe."""

    def __init__(self, size: int, connect_timeout: float, read_timeout: float,
                 tls: Callable[[], ssl.SSLContext]) -> None:
        self.size = size
        self._timeouts = connect_timeout, read_timeout
        self._tls = tls
        self._idle: dict[Origin, list[Connection]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, headers: Mapping[str, str]) -> Response:
        """Send GET `url` and read the status and headers; the body streams from the answer.
        A kept connection the server has closed meanwhile is replaced once (GET is idempotent)."""
        origin, request = _request(url, headers)
        with self._lock:
            idle = self._idle.get(origin)
            conn = idle.pop() if idle else None
        if conn is not None:
            try:
                return self._exchange(conn, request)
            except _Stale:
                pass
        return self._exchange(self._connect(origin), request, reused=False)

    def put(self, conn: Connection) -> None:
        """Keep a connection whose last answer was read to its end (or close it: pool full)."""
        with self._lock:
            idle = self._idle.setdefault(conn.origin, [])
            if len(idle) < self.size:
                idle.append(conn)
                return
        conn.close()

    def clear(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _connect(self, origin: Origin) -> Connection:
        """A new connection (TLS for https, verified against the context's CA bundle)."""
        scheme, host, port = origin
        sock = socket.create_connection((host, port), timeout=self._timeouts[0])
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=host)
            sock.settimeout(self._timeouts[1])
        except BaseException:
            sock.close()
            raise
        return Connection(origin, sock, self._timeouts[1])

    def _exchange(self, conn: Connection, request: bytes, reused: bool = True) -> Response:
        """Write the request and read the answer's head; _Stale when a kept connection turns
        out closed before a byte of the answer came."""
        deadline = time.monotonic() + self._timeouts[1]  # for the whole head, interim ones too
        try:
            try:
                conn.sock.sendall(request)
                status_line = conn.line(deadline)
            except STALE:
                if reused:
                    raise _Stale() from None
                raise
            if not status_line:
                if reused:
                    raise _Stale()
                raise WireError("the server closed the connection without an answer")
            version, status = _status(status_line)
            for _ in range(MAX_INTERIM + 1):  # 1xx answers (100 Continue): the real one follows
                if not 100 <= status < 200:
                    return Response(self, conn, version, status, _head(conn, deadline))
                _head(conn, deadline)
                version, status = _status(conn.line(deadline))
            raise WireError(f"more than {MAX_INTERIM} interim (1xx) answers")
        except BaseException:
            conn.close()
            raise


class Response:
    """A streaming answer: status, headers, and the body by read1 until b""."""

    def __init__(self, pool: Pool, conn: Connection, version: str, status: int,
                 headers: Headers) -> None:
        self.status = status
        self.headers = headers
        self._pool: Pool | None = pool
        self._conn: Connection | None = conn
        self._chunked = False
        self._left: int | None = None  # body (or current chunk) bytes still due; None: to EOF
        self._crlf = False  # a chunk's data was read: its CRLF comes before the next size line
        self._keep = version == "HTTP/1.1" and "close" not in _tokens(headers.get("connection"))
        coding = headers.get("transfer-encoding")
        if status in (204, 304):
            self._left = 0
        elif coding is not None:  # beats Content-Length; with both, the connection is not reused
            self._chunked = _tokens(coding)[-1:] == ["chunked"]
            self._left = 0 if self._chunked else None
            self._keep = self._keep and self._chunked and "content-length" not in headers
        elif "content-length" in headers:
            self._left = _length(headers["content-length"])
        else:
            self._keep = False  # the body ends when the server closes
        if self._left == 0 and not self._chunked:
            self._finish()

    def read1(self, amount: int) -> bytes:
        """Up to `amount` bytes of what has arrived; b"" at the end of the body."""
        conn = self._conn
        if conn is None:
            return b""
        if self._chunked and self._left == 0 and not self._next_chunk(conn):
            return b""
        if self._left is None:  # read to EOF
            data = conn.reader.read1(amount)
            if not data:
                self._finish()
            return data
        data = conn.reader.read1(min(amount, self._left))
        if not data:
            raise WireError(f"the connection closed with {self._left} bytes of the body unread")
        self._left -= len(data)
        if self._left == 0:
            if self._chunked:
                self._crlf = True
            else:
                self._finish()
        return data

    def close(self) -> None:
        """Close the connection of a body not read to its end (a finished one is in the pool)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _next_chunk(self, conn: Connection) -> bool:
        """Read the next chunk's size line; at the last chunk, its trailers, then finish."""
        if self._crlf and conn.line() not in (b"\r\n", b"\n"):
            raise WireError("a chunk is longer than its size line says")
        self._crlf = False
        size = conn.line().split(b";", 1)[0].strip()
        if not size or size.strip(b"0123456789abcdefABCDEF") or len(size) > 15:
            raise WireError(f"bad chunk size line {size[:40]!r}")
        self._left = int(size, 16)
        if self._left:
            return True
        _head(conn)  # trailers, up to the blank line
        self._finish()
        return False

    def _finish(self) -> None:
        """The body is read: hand the connection back to the pool (or close it)."""
        conn, pool, self._conn, self._pool = self._conn, self._pool, None, None
        if conn is not None and pool is not None and self._keep:
            pool.put(conn)
        elif conn is not None:
            conn.close()


class _Stale(Exception):
    """A kept connection was closed by the server before this request: use a new one."""


def _request(url: str, headers: Mapping[str, str]) -> tuple[Origin, bytes]:
    """The origin to connect to and the request's bytes; WireError for what HTTP cannot carry."""
    parts = urlsplit(url)
    scheme, host = parts.scheme, parts.hostname
    if scheme not in DEFAULT_PORTS or not host:
        raise WireError(f"not an http(s) URL with a host: {scheme}://{host or ''}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}",
             *(f"{name}: {value}" for name, value in headers.items())]
    if " " in target or not all(line.isascii() and line.isprintable() for line in lines):
        raise WireError("a request line or header holds a space, control or non-ASCII character")
    return (scheme, host, parts.port or DEFAULT_PORTS[scheme]), \
        ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(line: bytes) -> tuple[str, int]:
    """(version, status) from a status line."""
    version, _, rest = line.decode("latin-1").partition(" ")
    code = rest[:3]
    if (not version.startswith("HTTP/1.") or not code.isdigit() or not code.isascii()
            or rest[3:4] not in ("", " ", "\r", "\n")):
        raise WireError(f"bad status line {line[:80]!r}")
    return version, int(code)


def _head(conn: Connection, deadline: float | None = None) -> Headers:
    """Header lines up to the blank one, at most MAX_HEADERS, all by `deadline` (trailers:
    each line by its own)."""
    fields: dict[str, str] = {}
    last = ""
    for _ in range(MAX_HEADERS + 1):
        line = conn.line(deadline)
        if line in (b"\r\n", b"\n"):
            return Headers(fields)
        if not line:
            raise WireError("the connection closed inside the headers")
        text = line.decode("latin-1")
        if text[0] in " \t" and last:  # an obsolete folded continuation of the last header
            fields[last] += " " + text.strip()
            continue
        name, colon, value = text.partition(":")
        last = name.strip().lower()
        if not colon or not last or last != name.lower():
            raise WireError(f"bad header line {line[:80]!r}")
        value = value.strip()
        fields[last] = f"{fields[last]}, {value}" if last in fields else value
    raise WireError(f"more than {MAX_HEADERS} header lines")


def _length(text: str) -> int:
    """Content-Length (repeated identical values are one); WireError for anything else."""
    values = {value.strip() for value in text.split(",")}
    value = values.pop()
    if values or not value.isdigit() or not value.isascii() or len(value) > 18:
        raise WireError(f"bad Content-Length {text[:40]!r}")
    return int(value)


def _tokens(value: str | None) -> list[str]:
    """A comma-separated header's tokens, lower-case."""
    return [token.strip().lower() for token in value.split(",")] if value else []
