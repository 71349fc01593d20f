"""Unit-only helpers: bottles built by hand, a fake clock, a tiny stub HTTP server, moto S3."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bottlesync.bottle import Bottle, PlanItem, key_for
from bottlesync.catalog import Catalog
from bottlesync.config import Settings
from bottlesync.selection import choose
from bottlesync.upstream import Throttle, Upstream
from tests.conftest import fast_settings
from tests.fakes.homebrew import FakeHomebrew

ROOT = "https://ghcr.io/v2/homebrew/core"
BUCKET = "mirror-bucket"


def sha(text: str) -> str:
    """A well-formed sha256 hex derived from `text`."""
    return hashlib.sha256(text.encode()).hexdigest()


def make_bottle(name: str = "wget", pkgver: str = "1.25.0_1", tag: str = "arm64_sequoia",
                rebuild: int = 1, digest: str | None = None, root: str = ROOT) -> Bottle:
    """A valid Bottle whose url has the registry form."""
    digest = digest or sha(f"{name}/{pkgver}/{tag}/{rebuild}")
    image = name.replace("@", "/").replace("+", "x")
    return Bottle(name=name, pkgver=pkgver, tag=tag, rebuild=rebuild, sha256=digest,
                  url=f"{root}/{image}/blobs/sha256:{digest}")


def make_item(bottle: Bottle | None = None, size: int | None = 100,
              layout: str = "bottle-domain") -> PlanItem:
    """A PlanItem for `bottle` under `layout`."""
    bottle = bottle or make_bottle()
    return PlanItem(bottle, key_for(bottle, layout, "2026-11-28"), size)


@dataclass
class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it; records every sleep."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> float:
        """The current fake time."""
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance time by it."""
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)


def fake_upstream(settings: Settings, clock: FakeClock) -> Upstream:
    """An Upstream whose backoff sleeps and shared throttle both run on `clock`."""
    upstream = Upstream(settings, sleep=clock.sleep)
    upstream.throttle = Throttle(sleep=clock.sleep, clock=clock)
    return upstream


@dataclass
class Seen:
    """One request a StubServer received."""

    path: str
    headers: dict[str, str]


class StubServer:
    """A tiny real HTTP server on a loopback address: path -> (status, headers, body)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                stub.seen.append(Seen(self.path, dict(self.headers.items())))
                status, headers, body = stub.routes.get(self.path.split("?")[0],
                                                        (404, {}, b"not found"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def route(self, path: str, body: bytes | Any, status: int = 200,
              headers: dict[str, str] | None = None) -> str:
        """Serve `body` (bytes, or JSON of any other value) at `path`; return its URL."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[path] = (status, headers or {}, data)
        return self.base + path

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A stub server on 127.0.0.1."""
    server = StubServer()
    yield server
    server.stop()


@pytest.fixture
def settings(homebrew: FakeHomebrew, tmp_path: Path) -> Settings:
    """Fast settings pointing at the fake upstream and a mirror under tmp_path."""
    return fast_settings(homebrew.source_url, tmp_path / "mirror")


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for sleeps and throttling."""
    return FakeClock()


@pytest.fixture
def upstream(settings: Settings, clock: FakeClock) -> Iterator[Upstream]:
    """An Upstream on the fake, sleeping on the fake clock."""
    with fake_upstream(settings, clock) as client:
        yield client


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto S3 client with the bucket BUCKET created."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def select(catalog: Catalog, **rules: Any) -> list[Bottle]:
    """Every wanted bottle in catalogue order, as the plan's diff walks them (choose's
    formulae, their bottles for the wanted tags)."""
    chosen, wanted_tags = choose(catalog, **rules)
    return [bottle for formula in chosen for bottle in formula.bottles
            if bottle.tag in wanted_tags]
