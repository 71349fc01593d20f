"""`bottlesync serve` as a real process: curl against it, and brew 6's requests with no other host.

There is no real brew here: the client below performs exactly the request sequence of brew 6
with HOMEBREW_API_DOMAIN and HOMEBREW_BOTTLE_DOMAIN (or HOMEBREW_ARTIFACT_DOMAIN) set, as
/work/shared/TOOLING.md records it, with every other host unreachable.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bottlesync.cli import main
from tests.conftest import SMALL_CATALOGUE, fast_sync
from tests.fakes.homebrew import FakeHomebrew
from tests.fakes.signing import new_key, write_public_pem
from tests.integration.conftest import BOTTLESYNC

CURL = shutil.which("curl")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
TAG = "arm64_sequoia"
START_TIMEOUT = 60


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    """The test's homebrew-1."""
    return new_key()


def sync_mirror(tmp_path: Path, key: rsa.RSAPrivateKey, layout: str) -> Path:
    """A mirror of SMALL_CATALOGUE with its signed API, made by `bottlesync sync`; the fake
    upstream is stopped afterwards, so nothing but the mirror can answer."""
    mirror = tmp_path / "mirror"
    with FakeHomebrew(SMALL_CATALOGUE, api_key=key) as fake:
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({"sync": fast_sync(
            fake.source_url.replace("formula.json", "formula.jws.json"), str(mirror),
            layout=layout, api_public_key=str(write_public_pem(key, tmp_path / "k.pem")))}))
        assert main(["sync", "--config", str(config), "--quiet"], env={}) == 0
    return mirror


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Start `bottlesync serve --dest DIR --port 0` as a process; returns its base URL."""
    processes: list[subprocess.Popen[str]] = []

    def start(mirror: Path) -> str:
        process = subprocess.Popen(
            [str(BOTTLESYNC), "serve", "--dest", str(mirror), "--port", "0"],
            cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        processes.append(process)
        assert process.stderr is not None
        line = process.stderr.readline()  # blocks until the server is listening
        assert " at http://127.0.0.1:" in line, line
        return line.split(" at ", 1)[1].split()[0].rstrip("/")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=START_TIMEOUT)
        if process.stderr is not None:
            process.stderr.close()


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the real curl (no config file, no proxy)."""
    assert CURL is not None, "curl is needed (CI installs it)"
    return subprocess.run([CURL, "-q", "--noproxy", "*", "-sS", *args], capture_output=True,
                          timeout=START_TIMEOUT, check=False)


def test_curl_against_bottlesync_serve(tmp_path: Path, key: rsa.RSAPrivateKey,
                                       serve: Callable[[Path], str]) -> None:
    """GIVEN a synced mirror THEN curl fetches, resumes (-C -), HEADs, revalidates, and is
    refused traversal, .bottlesync/ and listings."""
    mirror = sync_mirror(tmp_path, key, "bottle-domain")
    (mirror / ".bottlesync").mkdir(exist_ok=True)
    (mirror / ".bottlesync" / "secret").write_text("internal")
    base = serve(mirror)
    name = f"openssl@3-3.4.0.{TAG}.bottle.tar.gz"
    data = (mirror / "bottles" / name).read_bytes()
    url = f"{base}/bottles/{name.replace('@', '%40')}"
    out = tmp_path / "download.tar.gz"
    out.write_bytes(data[:100])  # an interrupted download, resumed as brew does
    done = curl("-f", "-C", "-", "-o", str(out), url)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == data
    head = curl("-I", "-H", "Authorization: Bearer QQ==", url).stdout.decode()
    assert head.startswith("HTTP/1.1 200") and f"Content-Length: {len(data)}" in head
    etag = next(line.split(": ", 1)[1].strip() for line in head.splitlines()
                if line.lower().startswith("etag:"))
    code = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {etag}", url)
    assert code.stdout == b"304"
    assert curl("-r", "0-9", url).stdout == data[:10]
    for path in ("/../secret", "/%2e%2e/%2e%2e/etc/passwd", "/.bottlesync/secret",
                 "/bottles/", "/api/"):
        refused = curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base + path)
        assert refused.stdout == b"404", path


class OfflineGuard:
    """Every connection but the mirror's is refused, as on an air-gapped machine."""

    def __init__(self, allowed: tuple[str, int]) -> None:
        self.allowed = allowed
        self.refused: list[Any] = []

    def create_connection(self, address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if tuple(address[:2]) != self.allowed:
            self.refused.append(address)
            raise ConnectionRefusedError(f"offline: {address}")
        return ORIGINAL_CREATE_CONNECTION(address, *args, **kwargs)


ORIGINAL_CREATE_CONNECTION = socket.create_connection


def get(base: str, path: str, method: str = "GET",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request, as curl sends it (the path as given)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=START_TIMEOUT)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def brew_verify(document: bytes, public: rsa.RSAPublicKey) -> Any:
    """brew's check of a .jws.json (PS512, homebrew-1, b64 false), written out independently."""
    doc = json.loads(document)
    signature = doc["signatures"][0]
    assert signature["header"]["kid"] == "homebrew-1"
    protected = signature["protected"]
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    assert header["alg"] == "PS512" and header["b64"] is False
    raw = base64.urlsafe_b64decode(signature["signature"] + "==")
    public.verify(raw, f"{protected}.{doc['payload']}".encode(),
                  padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64),
                  hashes.SHA512())
    return json.loads(doc["payload"])


@pytest.mark.parametrize("layout", ["bottle-domain", "artifact-domain"])
def test_a_brew_client_fetches_a_bottle_from_the_mirror_alone(
        tmp_path: Path, key: rsa.RSAPrivateKey, serve: Callable[[Path], str],
        monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    """GIVEN only HOMEBREW_API_DOMAIN and the bottle (or artifact) domain, pointed at
    `bottlesync serve`, and no other network THEN brew 6's requests fetch openssl@3's bottle."""
    mirror = sync_mirror(tmp_path, key, layout)
    base = serve(mirror)
    host, port = base.removeprefix("http://").split(":")
    guard = OfflineGuard((host, int(port)))
    monkeypatch.setattr(socket, "create_connection", guard.create_connection)
    api = "/api"  # HOMEBREW_API_DOMAIN=<base>/api
    # 1. the packages file of the client's tag, verified with homebrew-1
    status, _, body = get(base, f"{api}/internal/packages.{TAG}.jws.json")
    assert status == 200
    formula = brew_verify(body, key.public_key())["formulae"]["openssl@3"]
    stable = formula["bottle"]["stable"]
    pkgver = formula["versions"]["stable"] + (f"_{formula['revision']}"
                                              if formula["revision"] else "")
    rebuild = stable["rebuild"]
    version_rebuild = pkgver + (f"-{rebuild}" if rebuild else "")
    sha256 = stable["files"][TAG]["sha256"]
    image = "openssl/3"
    if layout == "bottle-domain":  # HOMEBREW_BOTTLE_DOMAIN=<base>/bottles
        domain, auth = "/bottles", {"Authorization": "Bearer QQ=="}
        file_name = f"openssl@3-{pkgver}.{TAG}.bottle{f'.{rebuild}' if rebuild else ''}.tar.gz"
        bottle_path = f"{domain}/{file_name.replace('@', '%40')}"
    else:  # HOMEBREW_ARTIFACT_DOMAIN=<base>: ghcr's own paths, no Authorization header
        domain, auth = "/v2/homebrew/core", {}
        bottle_path = f"{domain}/{image}/blobs/sha256:{sha256}"
    # 2. the OCI index, with the index Accept type (and the anonymous Bearer for the domain)
    status, headers, body = get(base, f"{domain}/{image}/manifests/{version_rebuild}",
                                headers={"Accept": OCI_INDEX, **auth})
    assert (status, headers["content-type"]) == (200, OCI_INDEX)
    descriptor = next(m for m in json.loads(body)["manifests"]
                      if m["annotations"]["org.opencontainers.image.ref.name"]
                      == f"{pkgver}.{TAG}")
    assert descriptor["annotations"]["sh.brew.bottle.digest"] == sha256
    json.loads(descriptor["annotations"]["sh.brew.tab"])
    # 3. HEAD, then GET of the bottle
    status, headers, _ = get(base, bottle_path, "HEAD", auth)
    assert status == 200
    status, _, bottle = get(base, bottle_path, "GET", auth)
    assert status == 200 and len(bottle) == int(headers["content-length"])
    assert hashlib.sha256(bottle).hexdigest() == sha256
    # and nothing else was reachable: formulae.brew.sh and ghcr.io are refused
    for other in (("formulae.brew.sh", 443), ("ghcr.io", 443)):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(other, timeout=1)
    assert guard.refused == [("formulae.brew.sh", 443), ("ghcr.io", 443)]
