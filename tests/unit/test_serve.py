"""bottlesync serve: what brew's curl relies on, and nothing outside the published mirror."""

from __future__ import annotations

import email.utils
import http.client
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bottlesync.serve import OCI_INDEX, MirrorServer, byte_range, content_type
from bottlesync.storage import LocalStorage

BOTTLE = "openssl@3-3.4.0.arm64_sequoia.bottle.tar.gz"
DATA = bytes(range(256)) * 40  # 10 KiB


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A mirror with a bottle, an index, an API file, internals, a secret beside it, symlinks."""
    root = tmp_path / "mirror"
    (root / "bottles/openssl/3/manifests").mkdir(parents=True)
    (root / "bottles" / BOTTLE).write_bytes(DATA)
    (root / "bottles/openssl/3/manifests/3.4.0").write_text('{"schemaVersion": 2}')
    (root / "api").mkdir()
    (root / "api/formula.jws.json").write_text('{"payload": "[]"}')
    (root / ".bottlesync").mkdir()
    (root / ".bottlesync/writers.lock").write_text("lock")
    (tmp_path / "secret.txt").write_text("outside")
    (root / "bottles/escape.tar.gz").symlink_to(tmp_path / "secret.txt")
    (root / "bottles/internal").symlink_to(root / ".bottlesync")
    (root / "bottles/same.tar.gz").symlink_to(root / "bottles" / BOTTLE)
    return root


@pytest.fixture
def server(mirror: Path) -> Iterator[MirrorServer]:
    """The server on 127.0.0.1, an ephemeral port, in a thread."""
    srv = MirrorServer(LocalStorage(mirror), ("127.0.0.1", 0))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


def ask(srv: MirrorServer, path: str, method: str = "GET",
        **headers: str) -> tuple[int, dict[str, str], bytes]:
    """One request with the path sent exactly as given (no client-side normalising)."""
    host, port = srv.socket.getsockname()[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_get_with_percent_encoded_at(server: MirrorServer) -> None:
    """GIVEN `@` sent as %40 (as brew does) THEN the bottle with validators and its length."""
    status, headers, body = ask(server, "/bottles/openssl%403-3.4.0.arm64_sequoia.bottle.tar.gz")
    assert (status, body) == (200, DATA)
    assert headers["content-length"] == str(len(DATA))
    assert headers["accept-ranges"] == "bytes"
    assert headers["etag"].startswith('"') and headers["last-modified"].endswith("GMT")


def test_head_has_get_headers_and_no_body(server: MirrorServer) -> None:
    """GIVEN HEAD (brew's first request) THEN GET's headers, no body."""
    status, headers, body = ask(server, f"/bottles/{BOTTLE}", "HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(len(DATA))


@pytest.mark.parametrize(("spec", "first", "last"), [
    ("bytes=100-199", 100, 199), ("bytes=10000-", 10000, 10239), ("bytes=-40", 10200, 10239),
    ("bytes=10200-99999", 10200, 10239)])
def test_range_resumes_a_download(server: MirrorServer, spec: str, first: int,
                                  last: int) -> None:
    """GIVEN a Range THEN 206 with exactly those bytes and a Content-Range."""
    status, headers, body = ask(server, f"/bottles/{BOTTLE}", Range=spec)
    assert (status, body) == (206, DATA[first:last + 1])
    assert headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"


def test_unsatisfiable_range_is_416(server: MirrorServer) -> None:
    """GIVEN a range past the end THEN 416 with the size."""
    status, headers, _ = ask(server, f"/bottles/{BOTTLE}", Range="bytes=99999-")
    assert (status, headers["content-range"]) == (416, f"bytes */{len(DATA)}")


def test_if_range_with_an_old_etag_sends_everything(server: MirrorServer) -> None:
    """GIVEN If-Range naming another version THEN the whole file (never a mixed one)."""
    status, _, body = ask(server, f"/bottles/{BOTTLE}", Range="bytes=0-9", If_Range='"old"')
    assert (status, body) == (200, DATA)


def test_conditional_get(server: MirrorServer, mirror: Path) -> None:
    """GIVEN the ETag or a later date THEN 304; after the file changes THEN 200 again."""
    _, headers, _ = ask(server, "/api/formula.jws.json")
    etag, modified = headers["etag"], headers["last-modified"]
    assert ask(server, "/api/formula.jws.json", If_None_Match=etag)[0] == 304
    assert ask(server, "/api/formula.jws.json", If_None_Match=f'"x", {etag}')[0] == 304
    assert ask(server, "/api/formula.jws.json", If_Modified_Since=modified)[0] == 304
    path = mirror / "api/formula.jws.json"
    path.write_text('{"payload": "[1]"}')
    later = path.stat().st_mtime + 10
    os.utime(path, (later, later))
    status, headers, body = ask(server, "/api/formula.jws.json", If_None_Match=etag,
                                If_Modified_Since=modified)
    assert (status, body) == (200, b'{"payload": "[1]"}')
    assert headers["etag"] != etag
    assert ask(server, "/api/formula.jws.json",
               If_Modified_Since=email.utils.formatdate(later - 100, usegmt=True))[0] == 200


def test_content_types(server: MirrorServer) -> None:
    """GIVEN an index, an API file, a bottle THEN the OCI index type, JSON, gzip."""
    assert ask(server, "/bottles/openssl/3/manifests/3.4.0")[1]["content-type"] == OCI_INDEX
    assert ask(server, "/api/formula.jws.json")[1]["content-type"] == "application/json"
    assert ask(server, f"/bottles/{BOTTLE}")[1]["content-type"] == "application/gzip"


def test_authorization_is_ignored(server: MirrorServer) -> None:
    """GIVEN brew's `Authorization: Bearer QQ==` on the index request THEN it is served."""
    status, _, body = ask(server, "/bottles/openssl/3/manifests/3.4.0",
                          Authorization="Bearer QQ==", Accept=OCI_INDEX)
    assert (status, body) == (200, b'{"schemaVersion": 2}')


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/bottles/../../secret.txt", "/%2e%2e/secret.txt",
    "/bottles/%2e%2e/%2E%2E/secret.txt", "/bottles%2f..%2f..%2fsecret.txt",
    "/bottles/escape.tar.gz", "/.bottlesync/writers.lock", "/%2ebottlesync/writers.lock",
    "/bottles/internal/writers.lock", "/bottles/", "/bottles", "/", "/api/",
    "/bottles/openssl/3/manifests", "/bottles/%00", "/bottles/%ff.tar.gz", "//etc/passwd",
])
def test_nothing_outside_the_published_files(server: MirrorServer, path: str) -> None:
    """GIVEN traversal, symlinks out or into .bottlesync, directories THEN 404 and no content."""
    status, _, body = ask(server, path)
    assert status == 404
    assert b"outside" not in body and b"lock" not in body and b"<a href" not in body


def test_a_symlink_inside_the_mirror_is_served(server: MirrorServer) -> None:
    """GIVEN a symlink to a file inside the mirror THEN it is served like the file."""
    assert ask(server, "/bottles/same.tar.gz")[:3:2] == (200, DATA)


def test_other_methods_are_refused(server: MirrorServer, mirror: Path) -> None:
    """GIVEN PUT or DELETE THEN refused and the file is untouched."""
    assert ask(server, f"/bottles/{BOTTLE}", "DELETE")[0] == 501
    assert (mirror / "bottles" / BOTTLE).read_bytes() == DATA


def test_byte_range_parser() -> None:
    """Multi-ranges and junk are served in full; a zero suffix is unsatisfiable."""
    assert byte_range("bytes=0-1,5-6", 10) is None
    assert byte_range("items=0-1", 10) is None
    assert byte_range("bytes=5-2", 10) is None
    with pytest.raises(ValueError):
        byte_range("bytes=-0", 10)
    assert content_type("x/y.bin") == "application/octet-stream"
