"""The fakes speak the real protocols: every feature and every fault, exercised with requests."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.fakes.bottles import make_bottle, seed_for, synthetic_chunks, write_synthetic
from tests.fakes.homebrew import FakeFormula, FakeHomebrew, free_port_url, image_name
from tests.fakes.slack import FakeSlack

AUTH = {"Authorization": "Bearer QQ=="}
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
INDEX = {**AUTH, "Accept": f"{INDEX_TYPE}, application/vnd.oci.image.manifest.v1+json"}
TIMEOUT = 5.0
FORMULAE = (
    FakeFormula("wget", "1.25.0", dependencies=("openssl@3",)),
    FakeFormula(
        "openssl@3",
        "3.4.0",
        revision=1,
        rebuild=2,
        tags=("arm64_sequoia", "arm64_sonoma", "x86_64_linux"),
    ),
    FakeFormula("libxml++", "5.4.0", tags=("all",), deprecated=True, payload_size=300_000),
    FakeFormula("oldie", "0.1", tags=("sonoma",), disabled=True),
)


@pytest.fixture
def hb() -> Iterator[FakeHomebrew]:
    """A running fake upstream with a few formulae."""
    with FakeHomebrew(FORMULAE) as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A running fake Slack webhook."""
    with FakeSlack() as fake:
        yield fake


def entry(hb: FakeHomebrew, name: str) -> dict[str, Any]:
    """The catalogue entry of `name`."""
    return next(e for e in hb.catalogue if e["name"] == name)


def bottle_url(hb: FakeHomebrew, name: str, tag: str) -> str:
    """The catalogue's ghcr.io URL of one bottle."""
    return str(entry(hb, name)["bottle"]["stable"]["files"][tag]["url"])


def blob_host_url(hb: FakeHomebrew, name: str, tag: str) -> str:
    """Where ghcr.io redirects that bottle to."""
    resp = requests.get(
        bottle_url(hb, name, tag), headers=AUTH, allow_redirects=False, timeout=TIMEOUT
    )
    assert resp.status_code == 307
    return resp.headers["Location"]


def manifest_url(hb: FakeHomebrew, name: str) -> str:
    """The OCI image index URL of a formula."""
    formula = hb.formula(name)
    return f"{hb.root_url}/{formula.image}/manifests/{formula.version_rebuild}"


def raw_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET with http.client; read until EOF; return status, headers, body (errors propagate)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
    conn.request(
        "GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {}
    )
    resp = conn.getresponse()
    chunks = []
    while chunk := resp.fp.read1(1 << 16):
        chunks.append(chunk)
    conn.close()
    return resp.status, dict(resp.getheaders()), b"".join(chunks)


# --- bottles ----------------------------------------------------------------------------------


def test_make_bottle_is_a_reproducible_real_tarball() -> None:
    """Same inputs give the same bytes; the archive has the receipt and the payload."""
    data = make_bottle("openssl@3", "3.4.0_1", "arm64_sequoia", 5000)
    assert data == make_bottle("openssl@3", "3.4.0_1", "arm64_sequoia", 5000)
    assert data != make_bottle("openssl@3", "3.4.0_1", "x86_64_linux", 5000)
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"  # gzip, mtime 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert "openssl@3/3.4.0_1/INSTALL_RECEIPT.json" in members
        assert all(m.mtime == 0 for m in members.values())
        payload = tar.extractfile("openssl@3/3.4.0_1/bin/openssl@3")
        receipt = tar.extractfile("openssl@3/3.4.0_1/INSTALL_RECEIPT.json")
        assert payload is not None and receipt is not None
        assert len(payload.read()) == 5000
        assert json.loads(receipt.read())["source"]["tap"] == "homebrew/core"
    assert len(gzip.decompress(data)) % 512 == 0


def test_synthetic_blobs_are_deterministic_and_distinct(tmp_path: Path) -> None:
    """Synthetic chunks repeat exactly for a seed, never repeat inside a blob, hash correctly."""
    seed = seed_for("big", "1.0", "all")
    size = (3 << 20) + 123
    first = b"".join(bytes(c) for c in synthetic_chunks(seed, size))
    assert first == b"".join(bytes(c) for c in synthetic_chunks(seed, size))
    assert len(first) == size
    assert len({first[i : i + (1 << 20)] for i in range(0, 3 << 20, 1 << 20)}) == 3
    sha = write_synthetic(tmp_path / "b", seed, size)
    assert sha == hashlib.sha256(first).hexdigest()
    assert (tmp_path / "b").read_bytes() == first


# --- catalogue --------------------------------------------------------------------------------


def test_catalogue_has_realistic_entries(hb: FakeHomebrew) -> None:
    """formula.json lists every formula with the fields brew's API has."""
    resp = requests.get(hb.source_url, timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    doc = resp.json()
    assert [e["name"] for e in doc] == [f.name for f in FORMULAE]
    ssl = doc[1]
    assert ssl["tap"] == "homebrew/core" and ssl["full_name"] == "openssl@3"
    assert ssl["versions"] == {"stable": "3.4.0", "head": None, "bottle": True}
    assert ssl["revision"] == 1 and ssl["version_scheme"] == 0
    stable = ssl["bottle"]["stable"]
    assert stable["rebuild"] == 2 and stable["root_url"] == hb.root_url
    assert list(stable["files"]) == ["arm64_sequoia", "arm64_sonoma", "x86_64_linux"]
    for tag, file in stable["files"].items():
        assert file["sha256"] == hb.sha256("openssl@3", tag)
        assert file["url"] == f"{hb.root_url}/openssl/3/blobs/sha256:{file['sha256']}"
    assert stable["files"]["x86_64_linux"]["cellar"] == "/home/linuxbrew/.linuxbrew/Cellar"
    assert doc[0]["dependencies"] == ["openssl@3"]
    assert doc[0]["deprecated"] is False and doc[0]["deprecation_date"] is None
    assert doc[2]["deprecated"] is True and doc[3]["disabled"] is True
    assert doc[2]["bottle"]["stable"]["files"]["all"]["cellar"] == ":any_skip_relocation"
    assert "/libxmlxx/blobs/" in doc[2]["bottle"]["stable"]["files"]["all"]["url"]
    for key in ("oldnames", "aliases", "desc", "homepage", "license", "build_dependencies"):
        assert key in ssl


def test_names_follow_brew(hb: FakeHomebrew) -> None:
    """pkgver, version_rebuild, image and file names follow brew's rules."""
    ssl = hb.formula("openssl@3")
    assert (ssl.pkgver, ssl.version_rebuild, ssl.image) == ("3.4.0_1", "3.4.0_1-2", "openssl/3")
    assert (
        hb.file_name("openssl@3", "x86_64_linux")
        == "openssl@3-3.4.0_1.x86_64_linux.bottle.2.tar.gz"
    )
    assert hb.file_name("wget", "arm64_sequoia") == "wget-1.25.0.arm64_sequoia.bottle.tar.gz"
    assert image_name("libxml++") == "libxmlxx"
    assert hb.size("wget", "arm64_sequoia") == len(hb.blob("wget", "arm64_sequoia"))
    expected = make_bottle("wget", "1.25.0", "arm64_sequoia", 2048)
    assert hb.blob("wget", "arm64_sequoia") == expected


def test_catalogue_mutation_and_raw_bytes(hb: FakeHomebrew) -> None:
    """Tests may mutate the catalogue or serve raw (non-JSON) bytes instead."""
    hb.catalogue.append({"name": "broken"})
    assert requests.get(hb.source_url, timeout=TIMEOUT).json()[-1] == {"name": "broken"}
    hb.raw_catalogue = b"<html>not json</html>"
    resp = requests.get(hb.source_url, timeout=TIMEOUT)
    assert resp.content == b"<html>not json</html>"
    head = requests.head(hb.source_url, timeout=TIMEOUT)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(resp.content))
    assert hb.count("catalogue") == 2 and hb.count("catalogue", method=None) == 3


# --- registry: manifests ----------------------------------------------------------------------


def test_registry_requires_the_bearer_token(hb: FakeHomebrew) -> None:
    """No or wrong token: 401 with ghcr's challenge and an OCI error body."""
    for headers in ({"Accept": INDEX_TYPE}, {"Accept": INDEX_TYPE, "Authorization": "Bearer x"}):
        resp = requests.get(manifest_url(hb, "openssl@3"), headers=headers, timeout=TIMEOUT)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"] == (
            'Bearer realm="https://ghcr.io/token",service="ghcr.io",'
            'scope="repository:homebrew/core/openssl/3:pull"'
        )
        assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"
    resp = requests.get(bottle_url(hb, "wget", "arm64_sequoia"), timeout=TIMEOUT)
    assert resp.status_code == 401 and "homebrew/core/wget:pull" in resp.headers["WWW-Authenticate"]


def test_manifest_is_an_oci_index_with_sizes(hb: FakeHomebrew) -> None:
    """The image index lists every tag with platform, ref.name, digest and size."""
    resp = requests.get(manifest_url(hb, "openssl@3"), headers=INDEX, timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == INDEX_TYPE
    assert resp.headers["Docker-Content-Digest"] == (
        "sha256:" + hashlib.sha256(resp.content).hexdigest()
    )
    index = resp.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == INDEX_TYPE
    by_tag = {}
    for manifest in index["manifests"]:
        ref = manifest["annotations"]["org.opencontainers.image.ref.name"]
        by_tag[ref] = manifest
    assert set(by_tag) == {
        f"3.4.0_1.{t}.2" for t in ("arm64_sequoia", "arm64_sonoma", "x86_64_linux")
    }
    linux = by_tag["3.4.0_1.x86_64_linux.2"]
    assert linux["platform"] == {"architecture": "amd64", "os": "linux"}
    assert linux["annotations"]["sh.brew.bottle.digest"] == hb.sha256("openssl@3", "x86_64_linux")
    assert linux["annotations"]["sh.brew.bottle.size"] == str(hb.size("openssl@3", "x86_64_linux"))
    assert by_tag["3.4.0_1.arm64_sonoma.2"]["platform"]["os.version"] == "macOS 14"
    wget = requests.get(manifest_url(hb, "wget"), headers=INDEX, timeout=TIMEOUT).json()
    refs = [m["annotations"]["org.opencontainers.image.ref.name"] for m in wget["manifests"]]
    assert refs == ["1.25.0.arm64_sequoia", "1.25.0.x86_64_linux"]
    plus = requests.get(f"{hb.root_url}/libxmlxx/manifests/5.4.0", headers=INDEX, timeout=TIMEOUT)
    assert plus.json()["manifests"][0]["platform"]["os"] == "all"
    head = requests.head(manifest_url(hb, "openssl@3"), headers=INDEX, timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(resp.content))
    assert hb.count("manifest") == 3 and hb.count("manifest", method="HEAD") == 1


def test_manifest_unknown(hb: FakeHomebrew) -> None:
    """Wrong Accept, version or image: 404 MANIFEST_UNKNOWN."""
    urls_headers = [
        (manifest_url(hb, "wget"), AUTH),
        (manifest_url(hb, "wget"), {**AUTH, "Accept": "application/json"}),
        (f"{hb.root_url}/wget/manifests/1.24.0", INDEX),
        (f"{hb.root_url}/openssl/3/manifests/3.4.0_1", INDEX),
        (f"{hb.root_url}/nope/manifests/1.0", INDEX),
    ]
    for url, headers in urls_headers:
        resp = requests.get(url, headers=headers, timeout=TIMEOUT)
        assert resp.status_code == 404, url
        assert resp.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


# --- registry and blob host: bottles ----------------------------------------------------------


def test_blob_redirects_to_second_host_without_leaking_auth(hb: FakeHomebrew) -> None:
    """ghcr answers 307 to the blob host; requests drops Authorization; bytes match."""
    sha = hb.sha256("openssl@3", "arm64_sequoia")
    url = bottle_url(hb, "openssl@3", "arm64_sequoia")
    hop = requests.get(url, headers=AUTH, allow_redirects=False, timeout=TIMEOUT)
    assert hop.status_code == 307 and hop.headers["Content-Length"] == "0"
    assert hop.headers["Location"] == f"{hb.blob_base}/ghcr1/blobs/sha256:{sha}?se=2026&sig=s3cr3t"
    assert hb.blob_base.startswith("http://127.0.0.2:")
    resp = requests.get(url, headers=AUTH, timeout=TIMEOUT)
    assert resp.status_code == 200 and [r.status_code for r in resp.history] == [307]
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.content == hb.blob("openssl@3", "arm64_sequoia")
    assert hashlib.sha256(resp.content).hexdigest() == sha
    assert hb.auth_leaks == []
    assert (hb.count("blob"), hb.count("blob_host")) == (2, 1)
    assert [r.host for r in hb.requests] == ["registry", "registry", "blobs"]
    assert hb.requests[-1].status == 200 and "Authorization" not in hb.requests[-1].headers
    head = requests.head(hop.headers["Location"], timeout=TIMEOUT)
    assert head.headers["Content-Length"] == str(hb.size("openssl@3", "arm64_sequoia"))


def test_blob_unknown(hb: FakeHomebrew) -> None:
    """Unknown digest, or a digest of another image: 404 BLOB_UNKNOWN; blob host 404 too."""
    other = hb.sha256("wget", "arm64_sequoia")
    for url in (
        f"{hb.root_url}/wget/blobs/sha256:{'0' * 64}",
        f"{hb.root_url}/openssl/3/blobs/sha256:{other}",
    ):
        resp = requests.get(url, headers=AUTH, timeout=TIMEOUT)
        assert resp.status_code == 404
        assert resp.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    resp = requests.get(f"{hb.blob_base}/ghcr1/blobs/sha256:{'0' * 64}", timeout=TIMEOUT)
    assert resp.status_code == 404
    assert requests.get(f"{hb.blob_base}/elsewhere", timeout=TIMEOUT).status_code == 404
    assert (
        requests.get(hb.source_url.replace("/api/formula.json", "/x"), timeout=TIMEOUT).status_code
        == 404
    )


def test_blob_host_rejects_authorization(hb: FakeHomebrew) -> None:
    """A request carrying Authorization to the blob host is a leak: 400 and recorded."""
    location = blob_host_url(hb, "wget", "x86_64_linux")
    resp = requests.get(location, headers=AUTH, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert hb.auth_leaks == [urlsplit(location).path]


def test_blob_host_serves_ranges(hb: FakeHomebrew) -> None:
    """Range requests get 206 with Content-Range (for resumable downloads)."""
    location = blob_host_url(hb, "libxml++", "all")
    data = hb.blob("libxml++", "all")
    resp = requests.get(location, headers={"Range": "bytes=100-"}, timeout=TIMEOUT)
    assert resp.status_code == 206 and resp.content == data[100:]
    assert resp.headers["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    resp = requests.get(location, headers={"Range": "bytes=0-9"}, timeout=TIMEOUT)
    assert resp.content == data[:10]
    resp = requests.get(location, headers={"Range": f"bytes={len(data)}-"}, timeout=TIMEOUT)
    assert resp.status_code == 416


def test_replace_blob_and_set_formula(hb: FakeHomebrew) -> None:
    """Upstream can rebuild a bottle in place or publish a new version while running."""
    old = hb.sha256("wget", "arm64_sequoia")
    hb.replace_blob("wget", "arm64_sequoia", b"new bytes")
    new = hashlib.sha256(b"new bytes").hexdigest()
    assert hb.sha256("wget", "arm64_sequoia") == new and hb.size("wget", "arm64_sequoia") == 9
    doc = requests.get(hb.source_url, timeout=TIMEOUT).json()
    assert doc[0]["bottle"]["stable"]["files"]["arm64_sequoia"]["sha256"] == new
    resp = requests.get(bottle_url(hb, "wget", "arm64_sequoia"), headers=AUTH, timeout=TIMEOUT)
    assert resp.content == b"new bytes"
    index = requests.get(manifest_url(hb, "wget"), headers=INDEX, timeout=TIMEOUT).json()
    ann = index["manifests"][0]["annotations"]
    assert (ann["sh.brew.bottle.digest"], ann["sh.brew.bottle.size"]) == (new, "9")
    still = requests.get(f"{hb.root_url}/wget/blobs/sha256:{old}", headers=AUTH, timeout=TIMEOUT)
    assert still.status_code == 200
    hb.set_formula(FakeFormula("wget", "1.26.0"))
    hb.set_formula(FakeFormula("jq", "1.7.1", tags=("all",)))
    doc = requests.get(hb.source_url, timeout=TIMEOUT).json()
    assert (doc[0]["name"], doc[0]["versions"]["stable"]) == ("wget", "1.26.0")
    assert doc[-1]["name"] == "jq"
    assert requests.get(manifest_url(hb, "wget"), headers=INDEX, timeout=TIMEOUT).ok
    assert requests.get(bottle_url(hb, "jq", "all"), headers=AUTH, timeout=TIMEOUT).ok


def test_synthetic_blobs_stream_whole_to_parallel_clients(tmp_path: Path) -> None:
    """A 128 MiB synthetic blob: right size and sha to 4 parallel clients, and a workdir's blob
    is reused, not generated again (its speed is a benchmark's business: bench/, not a test)."""
    size = 128 << 20
    big = FakeFormula("big", "1.0", tags=("all",), synthetic_size=size)
    small = FakeFormula("tiny", "1.0", tags=("all",), synthetic_size=1000)
    with FakeHomebrew([big, small], workdir=tmp_path) as hb:
        assert hb.size("big", "all") == size
        assert len(hb.blob("tiny", "all")) == 1000
        url = bottle_url(hb, "big", "all")
        digests: list[str] = []

        def download() -> None:
            digest = hashlib.sha256()
            with requests.get(url, headers=AUTH, stream=True, timeout=TIMEOUT) as resp:
                for chunk in resp.iter_content(1 << 20):
                    digest.update(chunk)
            digests.append(digest.hexdigest())

        threads = [threading.Thread(target=download) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert digests == [hb.sha256("big", "all")] * 4
        sha = hb.sha256("big", "all")
        made = hb.blob_path("big", "all").stat()
    with FakeHomebrew([big], workdir=tmp_path) as hb2:  # a workdir's synthetic blobs are reused
        assert hb2.sha256("big", "all") == sha
        kept = hb2.blob_path("big", "all").stat()
    assert (kept.st_ino, kept.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)


def test_http11_keep_alive_and_content_length_everywhere(hb: FakeHomebrew) -> None:
    """One connection serves several requests; every answer carries Content-Length."""
    parts = urlsplit(hb.root_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
    registry = parts.path
    checks = [
        ("/api/formula.json", {}, 200),
        (f"{registry}/wget/manifests/1.25.0", {}, 401),
        (f"{registry}/wget/manifests/1.25.0", INDEX, 200),
        (urlsplit(bottle_url(hb, "wget", "x86_64_linux")).path, AUTH, 307),
        (f"{registry}/wget/manifests/9", INDEX, 404),
        ("/nothing", {}, 404),
    ]
    for path, headers, status in checks:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == status, path
        assert resp.version == 11 and resp.getheader("Content-Length") == str(len(body))
    assert conn.sock is not None  # still the same, open connection
    conn.close()


def test_stop_refuses_and_drops_connections() -> None:
    """After stop(): connections are refused, kept-alive ones are closed, temp files are gone."""
    hb = FakeHomebrew([FakeFormula("wget", "1.25.0")]).start()
    session = requests.Session()
    assert session.get(hb.source_url, timeout=TIMEOUT).ok
    blob_dir = hb.blob_path("wget", "arm64_sequoia").parent
    hb.stop()
    assert not blob_dir.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(hb.source_url, timeout=TIMEOUT)
    with pytest.raises(requests.ConnectionError):
        session.get(hb.source_url, timeout=TIMEOUT)
    hb.stop()  # idempotent


def test_free_port_url_refuses() -> None:
    """free_port_url() gives a URL where the connection is refused."""
    url = free_port_url()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=TIMEOUT)


# --- faults -----------------------------------------------------------------------------------


def test_fault_status_with_retry_after_then_normal(hb: FakeHomebrew) -> None:
    """`status` answers the next `times` matching requests, then the normal answer returns."""
    hb.fault("status", match="formula.json", times=2, code=429, retry_after="7")
    for _ in range(2):
        resp = requests.get(hb.source_url, timeout=TIMEOUT)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
        assert int(resp.headers["Content-Length"]) == len(resp.content) > 0
    assert requests.get(hb.source_url, timeout=TIMEOUT).status_code == 200
    assert hb.faults_served["status"] == 2
    for code in (408, 500, 502, 503, 504, 404):
        hb.fault("status", match="/manifests/", code=code)
        assert (
            requests.get(manifest_url(hb, "wget"), headers=INDEX, timeout=TIMEOUT).status_code
            == code
        )
    assert requests.get(manifest_url(hb, "wget"), headers=INDEX, timeout=TIMEOUT).status_code == 200
    assert "Retry-After" not in requests.get(hb.source_url, timeout=TIMEOUT).headers


def test_fault_forever_until_cleared_and_match(hb: FakeHomebrew) -> None:
    """times=-1 lasts until clear_faults(); match limits a fault to matching paths."""
    hb.fault("status", match="/ghcr1/", times=-1, code=503)
    url = bottle_url(hb, "wget", "x86_64_linux")
    for _ in range(3):
        assert requests.get(url, headers=AUTH, timeout=TIMEOUT).status_code == 503
    assert requests.get(hb.source_url, timeout=TIMEOUT).status_code == 200
    assert requests.get(manifest_url(hb, "wget"), headers=INDEX, timeout=TIMEOUT).status_code == 200
    hb.clear_faults()
    assert requests.get(url, headers=AUTH, timeout=TIMEOUT).status_code == 200
    assert hb.faults_served == {"status": 3}
    assert [r.status for r in hb.requests if r.host == "blobs"] == [503, 503, 503, 200]


def assert_requests_sees_a_broken_body(hb: FakeHomebrew, kind: str, location: str) -> None:
    """Re-arm `kind` once: a real client (requests) must see the body break, not a short 200."""
    hb.fault(kind, match="/ghcr1/")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(location, timeout=TIMEOUT)


def test_fault_reset(hb: FakeHomebrew) -> None:
    """`reset`: headers and part of the body, then a TCP RST."""
    location = blob_host_url(hb, "libxml++", "all")
    hb.fault("reset", match="/ghcr1/")
    with pytest.raises(ConnectionResetError):
        raw_get(location)
    assert_requests_sees_a_broken_body(hb, "reset", location)
    assert requests.get(location, timeout=TIMEOUT).content == hb.blob("libxml++", "all")
    assert hb.faults_served["reset"] == 2


def test_fault_truncate(hb: FakeHomebrew) -> None:
    """`truncate`: full Content-Length, half the body, clean close."""
    location = blob_host_url(hb, "libxml++", "all")
    size = hb.size("libxml++", "all")
    hb.fault("truncate", match="/ghcr1/")
    status, headers, body = raw_get(location)
    assert status == 200 and headers["Content-Length"] == str(size)
    assert body == hb.blob("libxml++", "all")[: size // 2]
    assert_requests_sees_a_broken_body(hb, "truncate", location)
    assert hb.faults_served["truncate"] == 2


def test_fault_wrong_bytes(hb: FakeHomebrew) -> None:
    """`wrong_bytes`: same length, exactly one byte differs, so the sha256 does not match."""
    good = hb.blob("libxml++", "all")
    hb.fault("wrong_bytes", match="/ghcr1/")
    resp = requests.get(bottle_url(hb, "libxml++", "all"), headers=AUTH, timeout=TIMEOUT)
    assert resp.status_code == 200 and len(resp.content) == len(good)
    assert sum(a != b for a, b in zip(resp.content, good, strict=True)) == 1
    assert hashlib.sha256(resp.content).hexdigest() != hb.sha256("libxml++", "all")
    hb.fault("wrong_bytes", match="formula.json")
    assert requests.get(hb.source_url, timeout=TIMEOUT).content != json.dumps(hb.catalogue).encode()
    assert hb.faults_served["wrong_bytes"] == 2


def test_fault_wrong_length(hb: FakeHomebrew) -> None:
    """`wrong_length`: Content-Length larger than the body, then the server closes."""
    location = blob_host_url(hb, "wget", "arm64_sequoia")
    size = hb.size("wget", "arm64_sequoia")
    hb.fault("wrong_length", match="/ghcr1/")
    _, headers, body = raw_get(location)
    assert int(headers["Content-Length"]) > size and body == hb.blob("wget", "arm64_sequoia")
    assert_requests_sees_a_broken_body(hb, "wrong_length", location)


def test_fault_stall(hb: FakeHomebrew) -> None:
    """`stall`: headers, then silence for `seconds`: a short read timeout fires."""
    location = blob_host_url(hb, "wget", "arm64_sequoia")
    hb.fault("stall", match="/ghcr1/", seconds=1.0)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(location, timeout=(TIMEOUT, 0.2))
    hb.fault("stall", match="/ghcr1/", seconds=0.3)
    started = time.perf_counter()
    resp = requests.get(location, timeout=TIMEOUT)
    assert time.perf_counter() - started >= 0.3
    assert resp.content == hb.blob("wget", "arm64_sequoia")
    assert hb.faults_served["stall"] == 2


def test_fault_slow(hb: FakeHomebrew) -> None:
    """`slow`: 64 KiB chunks with `delay` between them, bytes intact."""
    location = blob_host_url(hb, "libxml++", "all")  # ~300 kB: 5 chunks, 4 pauses
    hb.fault("slow", match="/ghcr1/", delay=0.05)
    started = time.perf_counter()
    resp = requests.get(location, timeout=TIMEOUT)
    assert time.perf_counter() - started >= 0.2
    assert resp.content == hb.blob("libxml++", "all")
    assert hb.faults_served["slow"] == 1


def test_fault_html(hb: FakeHomebrew) -> None:
    """`html`: 200 with an HTML page instead of the blob."""
    hb.fault("html", match="/ghcr1/")
    resp = requests.get(bottle_url(hb, "wget", "arm64_sequoia"), headers=AUTH, timeout=TIMEOUT)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert resp.content.startswith(b"<!DOCTYPE html>")


def test_fault_redirect_loop_and_redirect_to(hb: FakeHomebrew) -> None:
    """`redirect_loop` 307s to the same URL; `redirect_to` 307s wherever it is told."""
    location = blob_host_url(hb, "wget", "arm64_sequoia")
    hb.fault("redirect_loop", match="/ghcr1/", times=-1)
    hop = requests.get(location, allow_redirects=False, timeout=TIMEOUT)
    assert hop.status_code == 307 and hop.headers["Location"] == location
    with pytest.raises(requests.TooManyRedirects):
        requests.get(location, timeout=TIMEOUT)
    hb.clear_faults()
    hb.fault("redirect_loop", match="/ghcr1/", times=1)
    assert requests.get(location, timeout=TIMEOUT).status_code == 200
    elsewhere = free_port_url() + "evil"
    hb.fault("redirect_to", match="/blobs/", url=elsewhere)
    url = bottle_url(hb, "wget", "arm64_sequoia")
    hop = requests.get(url, headers=AUTH, allow_redirects=False, timeout=TIMEOUT)
    assert hop.status_code == 307 and hop.headers["Location"] == elsewhere
    hb.fault("redirect_to", match="/blobs/", url=elsewhere)
    with pytest.raises(requests.ConnectionError):
        requests.get(url, headers=AUTH, timeout=TIMEOUT)
    assert hb.faults_served["redirect_to"] == 2


def test_body_faults_wait_for_a_body(hb: FakeHomebrew) -> None:
    """Body faults skip bodiless answers (the 307 hop, HEAD) and hit the next real body."""
    sha = hb.sha256("libxml++", "all")
    hb.fault("truncate", match=sha)
    url = bottle_url(hb, "libxml++", "all")
    assert requests.head(blob_host_url(hb, "libxml++", "all"), timeout=TIMEOUT).ok
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url, headers=AUTH, timeout=TIMEOUT)
    assert hb.faults_served == {"truncate": 1}
    assert requests.get(url, headers=AUTH, timeout=TIMEOUT).ok


def test_faults_on_catalogue_and_manifest(hb: FakeHomebrew) -> None:
    """Faults apply to every host: a truncated catalogue, a reset manifest."""
    hb.fault("truncate", match="formula.json")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(hb.source_url, timeout=TIMEOUT)
    hb.fault("reset", match="/manifests/")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(manifest_url(hb, "openssl@3"), headers=INDEX, timeout=TIMEOUT)
    hb.fault("status", code=500)  # empty match: any request
    assert requests.get(manifest_url(hb, "wget"), headers=INDEX, timeout=TIMEOUT).status_code == 500
    assert hb.faults_served == {"truncate": 1, "reset": 1, "status": 1}


def test_faults_are_thread_safe(hb: FakeHomebrew) -> None:
    """Exactly `times` of many concurrent requests get the fault."""
    hb.fault("status", match="formula.json", times=3, code=503)
    statuses: list[int] = []
    lock = threading.Lock()

    def fetch() -> None:
        code = requests.get(hb.source_url, timeout=TIMEOUT).status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=fetch) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 13 + [503] * 3
    assert hb.faults_served["status"] == 3 and hb.count("catalogue") == 16


def test_fault_arguments_are_checked(hb: FakeHomebrew) -> None:
    """Unknown kinds and missing parameters are refused early."""
    with pytest.raises(ValueError, match="unknown fault kind"):
        hb.fault("explode")
    with pytest.raises(ValueError, match="code"):
        hb.fault("status")
    with pytest.raises(ValueError, match="url"):
        hb.fault("redirect_to")
    with pytest.raises(ValueError, match="times"):
        hb.fault("reset", times=0)
    with pytest.raises(ValueError, match="unknown kind"):
        hb.count("nope")


# --- slack ------------------------------------------------------------------------------------


def test_slack_accepts_json(slack: FakeSlack) -> None:
    """A JSON POST to the webhook gets 200 `ok` and is recorded with its headers."""
    assert urlsplit(slack.webhook_url).path == "/services/T000/B000/XXXXXXXX"
    resp = requests.post(slack.webhook_url, json={"text": "sync done"}, timeout=TIMEOUT)
    assert (resp.status_code, resp.text) == (200, "ok")
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert slack.messages == [{"text": "sync done"}]
    assert slack.headers[0]["Content-Type"] == "application/json"
    form = requests.post(
        slack.webhook_url,
        data={"payload": json.dumps({"blocks": [{"type": "divider"}]})},
        timeout=TIMEOUT,
    )
    assert form.text == "ok" and slack.messages[-1] == {"blocks": [{"type": "divider"}]}


def test_slack_rejects_bad_requests(slack: FakeSlack) -> None:
    """Wrong path: 404 no_service; not JSON: 400 invalid_payload; no text: 400 no_text."""
    base = slack.webhook_url.rsplit("/services/", 1)[0]
    resp = requests.post(f"{base}/services/T000/B000/WRONG", json={"text": "x"}, timeout=TIMEOUT)
    assert (resp.status_code, resp.text) == (404, "no_service")
    for body in (b"not json", b"[1, 2]"):
        resp = requests.post(slack.webhook_url, data=body, timeout=TIMEOUT)
        assert (resp.status_code, resp.text) == (400, "invalid_payload")
    resp = requests.post(slack.webhook_url, json={"username": "bot"}, timeout=TIMEOUT)
    assert (resp.status_code, resp.text) == (400, "no_text")
    assert requests.get(slack.webhook_url, timeout=TIMEOUT).status_code == 400
    assert slack.messages == [] and slack.attempts == 3


def test_slack_status_faults(slack: FakeSlack) -> None:
    """fault_status answers 429 (with Retry-After) or 500 for the next `times` posts."""
    slack.fault_status(429, retry_after="3")
    slack.fault_status(500, times=2)
    resp = requests.post(slack.webhook_url, json={"text": "a"}, timeout=TIMEOUT)
    assert (resp.status_code, resp.text, resp.headers["Retry-After"]) == (429, "rate_limited", "3")
    for _ in range(2):
        resp = requests.post(slack.webhook_url, json={"text": "b"}, timeout=TIMEOUT)
        assert resp.status_code == 500 and "Retry-After" not in resp.headers
    assert requests.post(slack.webhook_url, json={"text": "c"}, timeout=TIMEOUT).text == "ok"
    slack.fault_status(500, times=-1)
    assert requests.post(slack.webhook_url, json={"text": "d"}, timeout=TIMEOUT).status_code == 500
    slack.clear_faults()
    assert requests.post(slack.webhook_url, json={"text": "e"}, timeout=TIMEOUT).ok
    assert slack.messages == [{"text": "c"}, {"text": "e"}] and slack.attempts == 6
