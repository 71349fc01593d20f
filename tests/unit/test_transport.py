"""The transports: connections kept across a small redirect, dropped after a big one, no env."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bottlesync.config import Settings
from bottlesync.transport import (
    DRAIN_LIMIT,
    DRAIN_SECONDS,
    EnvTransport,
    LeanTransport,
    Reply,
    transport_for,
)
from bottlesync.upstream import Upstream

BODY = b"bottle bytes" * 100


class Server(ThreadingHTTPServer):
    """Records the client port of every request: one port, one connection."""

    daemon_threads = True
    ports: list[int]
    auth: list[str | None]
    redirect_body: int


class Handler(BaseHTTPRequestHandler):
    """/hop redirects to /blob with a body of `redirect_body` bytes; /blob answers BODY."""

    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        """Answer, keeping the connection alive."""
        self.server.ports.append(self.client_address[1])
        self.server.auth.append(self.headers.get("Authorization"))
        if self.path == "/hop":
            self.send_response(307)
            self.send_header("Location", "/blob")
            self.send_header("Content-Length", str(self.server.redirect_body))
            self.end_headers()
            self.wfile.write(b"x" * self.server.redirect_body)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture()
def server() -> Iterator[Server]:
    """A keep-alive HTTP/1.1 server on loopback."""
    srv = Server(("127.0.0.1", 0), Handler)
    srv.ports, srv.auth, srv.redirect_body = [], [], 10
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def fetch(server: Server) -> bytes:
    """Follow /hop to /blob through Upstream.open, as a bottle download does."""
    url = f"http://127.0.0.1:{server.server_address[1]}/hop"
    with Upstream(Settings(source=url)) as upstream, upstream.open(url, "test") as response:
        return b"".join(upstream.chunks(response, "test"))


def test_a_small_redirect_keeps_its_connection_for_the_next_hop(server: Server) -> None:
    """GIVEN a 307 with a short body to the same host THEN both hops share one connection."""
    assert fetch(server) == BODY
    assert len(server.ports) == 2 and len(set(server.ports)) == 1


def test_a_big_redirect_body_is_not_read_to_the_end(server: Server) -> None:
    """GIVEN a 307 whose body is larger than DRAIN_LIMIT THEN it is dropped, the hop reconnects."""
    server.redirect_body = DRAIN_LIMIT * 4
    assert fetch(server) == BODY
    assert len(server.ports) == 2 and len(set(server.ports)) == 2


def test_the_lean_transport_ignores_proxy_variables(server: Server,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN HTTP(S)_PROXY set but trust_env off THEN the request goes straight to the host."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert fetch(server) == BODY


def test_the_lean_transport_never_reads_netrc(server: Server, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a ~/.netrc naming the host, trust_env off THEN no Authorization reaches it."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert fetch(server) == BODY
    assert server.auth == [None, None]


def test_trust_env_selects_the_environment_aware_transport() -> None:
    """GIVEN trust_env THEN requests (proxies, CA bundles) sends; else the lean transport."""
    env = transport_for(True, 4, (1.0, 1.0), "ua")
    lean = transport_for(False, 4, (1.0, 1.0), "ua")
    try:
        assert isinstance(env, EnvTransport) and isinstance(lean, LeanTransport)
    finally:
        env.close()
        lean.close()


class Trickle:
    """A raw response whose body never ends: one byte a read, or a reset on the `fail_at` read."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.reads, self.fail_at, self.closed = 0, fail_at, False

    status, headers = 307, {"Location": "/blob"}

    def read1(self, amount: int) -> bytes:
        """One byte, or a connection reset."""
        self.reads += 1
        if self.reads == self.fail_at:
            raise ConnectionResetError("Connection reset by peer")
        return b"x"

    def close(self) -> None:
        """Note it."""
        self.closed = True


def test_a_trickling_redirect_body_is_dropped_after_the_drain_time() -> None:
    """GIVEN a redirect body that keeps trickling THEN release stops at DRAIN_SECONDS and closes."""
    raw, ticks = Trickle(), iter(range(10_000))
    Reply(raw, "http://127.0.0.1/hop").release(clock=lambda: next(ticks) / 4)
    assert raw.closed and 0 < raw.reads <= DRAIN_SECONDS * 4


def test_a_reset_while_draining_is_not_an_error() -> None:
    """GIVEN the connection breaks while a redirect body drains THEN it is closed, no exception."""
    raw = Trickle(fail_at=3)
    Reply(raw, "http://127.0.0.1/hop").release()
    assert raw.closed and raw.reads == 3


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server on 127.0.0.1 with a certificate of its own CA: (its /blob URL, the CA's
    PEM bundle)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bottlesync test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    bundle, secret = tmp_path / "ca.pem", tmp_path / "key.pem"
    bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    secret.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.ports, httpd.auth, httpd.redirect_body = [], [], 0
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(bundle, secret)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/blob", bundle
    httpd.shutdown()
    httpd.server_close()


def test_a_ca_bundle_is_what_the_lean_transport_verifies_against(
        tls_server: tuple[str, Path]) -> None:
    """GIVEN an https server whose CA only the configured bundle holds THEN the lean transport
    reaches it with that bundle, and refuses it with certifi's (no verification is skipped)."""
    url, bundle = tls_server
    trusting = LeanTransport(2, (5.0, 5.0), "ua", ca_bundle=str(bundle))
    reply = trusting.get(url, {})
    assert (reply.status, reply.read1(1 << 20)) == (200, BODY)
    reply.close()
    trusting.close()
    default = LeanTransport(2, (5.0, 5.0), "ua")
    with pytest.raises(default.errors, match="CERTIFICATE_VERIFY_FAILED"):
        default.get(url, {})
    default.close()
