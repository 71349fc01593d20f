"""The lean HTTP/1.1 client: framing by length, chunks or close; kept, replaced and dropped
connections; hostile answers refused with WireError. The server is a real socket on loopback
that answers each request with scripted bytes."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from bottlesync.wire import MAX_HEADERS, MAX_INTERIM, MAX_LINE, Pool, Response, WireError

KEEP, CLOSE = False, True  # after the scripted answer: keep the connection, or close it


class RawServer:
    """Answers the n-th request with the n-th scripted (bytes, close) pair; records the client
    port and head of every request."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.script: list[tuple[bytes, bool, float, int]] = []
        self.requests: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def answer(self, data: bytes, close: bool = KEEP, trickle: float = 0.0,
               prompt: int = 0) -> None:
        """Script the next answer (when `trickle` is set: its first `prompt` bytes at once,
        then a byte every `trickle` seconds, then the connection closes)."""
        self.script.append((data, close, trickle, prompt))

    def url(self, path: str = "/blob") -> str:
        """An http URL on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def ports(self) -> list[int]:
        """The client port of each request so far: one port, one connection."""
        return [port for port, _head in self.requests]

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer[1]), daemon=True).start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        with conn:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                with self._lock:
                    self.requests.append((port, head))
                    answer, close, trickle, prompt = self.script.pop(0)
                if trickle:
                    conn.sendall(answer[:prompt])
                    self._trickle(conn, answer[prompt:], trickle)
                    return
                conn.sendall(answer)
                if close:
                    return

    def _trickle(self, conn: socket.socket, answer: bytes, seconds: float) -> None:
        """Send `answer` a byte at a time until the client hangs up."""
        for byte in answer:
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(seconds)


@pytest.fixture()
def server() -> Iterator[RawServer]:
    """A scripted HTTP server on 127.0.0.1."""
    srv = RawServer()
    yield srv
    srv.sock.close()


@pytest.fixture()
def pool() -> Iterator[Pool]:
    """A pool keeping two idle connections per origin, plain http only."""
    made = Pool(2, 5.0, 5.0, lambda: ssl.create_default_context())
    yield made
    made.clear()


def body(response: Response) -> bytes:
    """The whole body, as Upstream.chunks reads it."""
    parts = []
    while chunk := response.read1(7):
        parts.append(chunk)
    return b"".join(parts)


def ok(data: bytes, *headers: str) -> bytes:
    """A 200 with Content-Length and extra header lines."""
    head = "".join(f"{line}\r\n" for line in (*headers, f"Content-Length: {len(data)}"))
    return b"HTTP/1.1 200 OK\r\n" + head.encode() + b"\r\n" + data


def test_a_sized_body_is_read_and_its_connection_serves_the_next_request(
        server: RawServer, pool: Pool) -> None:
    """GIVEN two answers with Content-Length THEN both bodies, over one connection, and the
    request carries the Host and the given headers."""
    server.answer(ok(b"first body", "ETag: \"abc\"", "X-Twice: a", "x-twice: b"))
    server.answer(ok(b"second"))
    first = pool.get(server.url("/v2/x?n=1"), {"Authorization": "Bearer QQ=="})
    assert (first.status, body(first)) == (200, b"first body")
    assert first.headers["etag"] == first.headers.get("ETag") == '"abc"'
    assert first.headers["X-Twice"] == "a, b" and "content-length" in first.headers
    assert body(pool.get(server.url(), {})) == b"second"
    assert len(set(server.ports())) == 1
    head = server.requests[0][1].decode()
    assert head.startswith("GET /v2/x?n=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}" in head and "Authorization: Bearer QQ==" in head


def test_a_chunked_body_is_decoded_with_extensions_and_trailers(
        server: RawServer, pool: Pool) -> None:
    """GIVEN chunked transfer coding (a chunk extension, a trailer) THEN the joined data, and
    the connection is kept."""
    server.answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5;ext=1\r\nhello\r\n10\r\n, chunked world!\r\n0\r\nX-Trailer: t\r\n\r\n")
    server.answer(ok(b"next"))
    assert body(pool.get(server.url(), {})) == b"hello, chunked world!"
    assert body(pool.get(server.url(), {})) == b"next"
    assert len(set(server.ports())) == 1


@pytest.mark.parametrize("head", [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
                                  b"HTTP/1.0 200 OK\r\n\r\n"])
def test_a_body_without_a_length_ends_when_the_server_closes(
        server: RawServer, pool: Pool, head: bytes) -> None:
    """GIVEN no length (or Connection: close, or HTTP/1.0) THEN the body runs to EOF and the
    next request opens a new connection."""
    server.answer(head + b"until the end", CLOSE)
    server.answer(ok(b"fresh"))
    assert body(pool.get(server.url(), {})) == b"until the end"
    assert body(pool.get(server.url(), {})) == b"fresh"
    assert len(set(server.ports())) == 2


def test_a_kept_connection_the_server_closed_is_replaced_once(
        server: RawServer, pool: Pool) -> None:
    """GIVEN the server closes a keep-alive connection after answering THEN the next request
    goes out again on a new connection, no error."""
    server.answer(ok(b"then gone"), CLOSE)
    server.answer(ok(b"again"))
    assert body(pool.get(server.url(), {})) == b"then gone"
    assert body(pool.get(server.url(), {})) == b"again"
    assert len(server.requests) == 2 and len(set(server.ports())) == 2


def test_a_body_not_read_to_its_end_drops_its_connection(server: RawServer, pool: Pool) -> None:
    """GIVEN a response closed half read THEN its connection is not reused for the next one."""
    server.answer(ok(b"x" * 1000))
    server.answer(ok(b"y"))
    first = pool.get(server.url(), {})
    assert first.read1(10) == b"x" * 10
    first.close()
    assert body(pool.get(server.url(), {})) == b"y"
    assert len(set(server.ports())) == 2


@pytest.mark.parametrize("status", [204, 304])
def test_answers_without_a_body_keep_the_connection(server: RawServer, pool: Pool,
                                                    status: int) -> None:
    """GIVEN a 204 or 304 (no body, whatever Content-Length says) THEN b"" and one connection."""
    server.answer(f"HTTP/1.1 {status} X\r\nContent-Length: 5\r\n\r\n".encode())
    server.answer(ok(b"z"))
    answer = pool.get(server.url(), {})
    assert (answer.status, answer.read1(10)) == (status, b"")
    assert body(pool.get(server.url(), {})) == b"z"
    assert len(set(server.ports())) == 1


def test_an_interim_answer_is_skipped(server: RawServer, pool: Pool) -> None:
    """GIVEN MAX_INTERIM 1xx answers before the answer THEN the real status and body."""
    server.answer(b"HTTP/1.1 100 Continue\r\nX: y\r\n\r\n" * MAX_INTERIM + ok(b"real"))
    answer = pool.get(server.url(), {})
    assert (answer.status, body(answer)) == (200, b"real")


@pytest.mark.parametrize(("answer", "problem"), [
    (b"ICY 200 OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 20x OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nName : spaced\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", "header lines"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_LINE + b"\r\n\r\n", "longer than"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INTERIM + 1) + b"HTTP/1.1 200 OK\r\n\r\n",
     "interim"),
    (b"HTTP/1.1 200 OK\r\nContent-Len", "closed inside a line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", "closed inside the headers"),
])
def test_a_broken_head_is_a_wire_error(server: RawServer, pool: Pool, answer: bytes,
                                       problem: str) -> None:
    """GIVEN a malformed status line or headers THEN WireError naming the problem."""
    server.answer(answer, CLOSE)
    with pytest.raises(WireError, match=problem):
        pool.get(server.url(), {})


@pytest.mark.parametrize(("answer", "problem"), [
    (b"Content-Length: 10\r\n\r\nshort", "5 bytes of the body unread"),
    (b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"Transfer-Encoding: chunked\r\n\r\n-1\r\n", "bad chunk size"),
    (b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", "longer than its size"),
    (b"Transfer-Encoding: chunked\r\n\r\n5\r\nab", "bytes of the body unread"),
])
def test_a_broken_body_is_a_wire_error(server: RawServer, pool: Pool, answer: bytes,
                                       problem: str) -> None:
    """GIVEN a body shorter than its length, or bad chunking THEN WireError while reading."""
    server.answer(b"HTTP/1.1 200 OK\r\n" + answer, CLOSE)
    response = pool.get(server.url(), {})
    with pytest.raises(WireError, match=problem):
        body(response)


@pytest.mark.parametrize(("url", "headers"), [
    ("http://127.0.0.1:1/a b", {}),
    ("http://127.0.0.1:1/a", {"X-Evil": "v\r\nInjected: yes"}),
    ("http://127.0.0.1:1/é", {}),
    ("ftp://127.0.0.1:1/a", {}),
])
def test_a_request_http_cannot_carry_is_refused_before_connecting(
        pool: Pool, url: str, headers: dict[str, str]) -> None:
    """GIVEN a space, a line break or non-ASCII in the request, or another scheme THEN WireError,
    before any connection (port 1 would refuse one)."""
    with pytest.raises(WireError):
        pool.get(url, headers)


def test_the_pool_keeps_at_most_its_size_per_origin(server: RawServer, pool: Pool) -> None:
    """GIVEN three answers open at once on a pool of 2, then read to their ends THEN the next
    three open at once reuse two of those connections and make one new."""
    for _ in range(6):
        server.answer(ok(b"k"))
    first = [pool.get(server.url(), {}) for _ in range(3)]
    assert [body(response) for response in first] == [b"k"] * 3
    second = [pool.get(server.url(), {}) for _ in range(3)]
    assert [body(response) for response in second] == [b"k"] * 3
    before, after = set(server.ports()[:3]), set(server.ports()[3:])
    assert len(before) == len(after) == 3 and len(before & after) == 2


def test_a_head_trickled_past_the_read_timeout_times_out(server: RawServer) -> None:
    """GIVEN an answer whose head arrives a byte every 20 ms (each receive well inside the read
    timeout of 1 s, the whole head would take 8 s) THEN TimeoutError at about 1 s: the read
    timeout bounds the whole head, not one receive."""
    server.answer(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 400 + b"\r\n\r\n", trickle=0.02)
    slow = Pool(1, 5.0, 1.0, lambda: ssl.create_default_context())
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="took longer than 1 s"):
        slow.get(server.url(), {})
    assert time.monotonic() - started < 5.0


def test_a_body_after_a_prompt_head_is_read_at_its_own_pace(server: RawServer) -> None:
    """GIVEN a prompt head, then body bytes every 40 ms, 2.4 s in all against a read timeout of
    1 s THEN the whole body: its pace is Upstream's bounds' business, not the head's."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n"
    server.answer(head + b"b" * 60, trickle=0.04, prompt=len(head))
    patient = Pool(1, 5.0, 1.0, lambda: ssl.create_default_context())
    assert body(patient.get(server.url(), {})) == b"b" * 60
