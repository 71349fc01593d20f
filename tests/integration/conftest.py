"""Fixtures for the end-to-end CLI tests: a real `bottlesync` process, moto in server mode, S3."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.conftest import CliResult, fast_sync
from tests.fakes.homebrew import FakeHomebrew
from tests.fakes.moto_server import moto_server

BOTTLESYNC = Path(sys.executable).with_name("bottlesync")
REGION = "us-east-1"
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}
PROCESS_TIMEOUT = 60
# wget's runtime closure in SMALL_CATALOGUE, and nothing else
WGET_CLOSURE = ("wget", "openssl@3", "ca-certificates", "libidn2", "libunistring")


def write_config(path: Path, source: str, dest: str, **overrides: Any) -> Path:
    """A config.yaml with the fast test settings (no real sleeping)."""
    path.write_text(yaml.safe_dump({"sync": fast_sync(source, dest, **overrides)}))
    return path


def entry(fake: FakeHomebrew, name: str) -> dict[str, Any]:
    """The catalogue entry of formula `name`."""
    return next(e for e in fake.catalogue if e["name"] == name)


def bottle_files(fake: FakeHomebrew, names: tuple[str, ...], tags: tuple[str, ...]) -> set[str]:
    """File names of every bottle of `names` for `tags` plus `all`."""
    wanted = {*tags, "all"}
    return {fake.file_name(n, t) for n in names for t in fake.formula(n).tags if t in wanted}


@pytest.fixture
def bottlesync_process(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the installed `bottlesync` script in `tmp_path` (no ./config.yaml) with a small env."""

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
                   "LANG": "C.UTF-8", "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                   "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                   **(env or {})}
        done = subprocess.run([str(BOTTLESYNC), *args], cwd=tmp_path, env=environ,
                              capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
                              check=False)
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on a free loopback port, for processes and in-process clients."""
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_env(moto_endpoint: str) -> dict[str, str]:
    """Environment that points a `bottlesync` process at the moto server."""
    return {"AWS_ENDPOINT_URL": moto_endpoint, **DUMMY_AWS}


@pytest.fixture
def s3_client(moto_endpoint: str) -> Any:
    """A boto3 S3 client talking to the moto server."""
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def bucket(s3_client: Any, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the moto server (named after the test, plus a unique suffix)."""
    label = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40]
    name = f"t-{label}-{uuid.uuid4().hex[:8]}".replace("--", "-")
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def serve_bytes() -> Iterator[Callable[[str, bytes], str]]:
    """Serve a document at a path on a loopback http server; returns its URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(path: str, body: bytes) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path == path
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean."""

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}{path}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
