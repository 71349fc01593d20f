"""GIVEN a configured registry token and a hostile catalogue THEN the token reaches only the hosts
in `registry_hosts`, loopback is refused for a real https source, and odd URLs are invalid entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bottlesync.config import Settings
from bottlesync.errors import DisallowedURL
from bottlesync.upstream import Upstream
from tests.conftest import CliResult, bottle_names, fast_sync
from tests.fakes.homebrew import FakeFormula, FakeHomebrew
from tests.unit.conftest import StubServer

TOKEN = "ghp_ConfiguredRegistryToken42"
ENV = {"BOTTLESYNC_REGISTRY_TOKEN": TOKEN}


@pytest.fixture
def hostile() -> Iterator[StubServer]:
    """Another loopback port that records every header it is sent."""
    server = StubServer("127.0.0.1")
    yield server
    server.stop()


def point_at(fake: FakeHomebrew, name: str, root: str) -> None:
    """Make the catalogue send every bottle of `name` (and its index) to `root`."""
    for entry in fake.catalogue:
        if entry["name"] == name:
            stable = entry["bottle"]["stable"]
            old = stable["root_url"]
            stable["root_url"] = root
            for info in stable["files"].values():
                info["url"] = root + info["url"][len(old):]


def carried(headers: list[dict[str, str]]) -> list[str]:
    """The Authorization headers that carried the configured token."""
    return [h["Authorization"] for h in headers if TOKEN in h.get("Authorization", "")]


def test_catalogue_cannot_send_the_token_elsewhere(
        homebrew: FakeHomebrew, hostile: StubServer, cli: Callable[..., CliResult],
        tmp_path: Path) -> None:
    """GIVEN a token for ghcr.io and bottles on the source host and on another loopback port
    THEN neither host sees the token (anonymous QQ== still works), and the rest lands."""
    point_at(homebrew, "jq", f"{hostile.base}/v2/homebrew/core")
    result = cli("sync", "--json", env=ENV)
    assert result.code == 1  # jq's bottles are not on the hostile host: they fail
    assert carried([r.headers for r in homebrew.requests]) == []
    assert carried([s.headers for s in hostile.seen]) == []
    assert hostile.seen and all(s.headers.get("Authorization") == "Bearer QQ=="
                                for s in hostile.seen)
    landed = bottle_names(tmp_path / "mirror" / "bottles")
    assert "wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz" in landed


def test_token_goes_to_the_listed_registry_port_only(
        make_homebrew: Callable[..., FakeHomebrew], hostile: StubServer,
        tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    """GIVEN registry_hosts naming the registry's host:port THEN the token goes there, and a
    catalogue entry on another port of the same address gets the anonymous token only."""
    fake = make_homebrew([FakeFormula("jq", "1.7.1"), FakeFormula("wget", "1.25.0")])
    fake.token = TOKEN
    point_at(fake, "jq", f"{hostile.base}/v2/homebrew/core")
    config = tmp_path / "token.yaml"
    config.write_text(yaml.safe_dump({"sync": fast_sync(
        fake.source_url, str(tmp_path / "mirror"),
        registry_hosts=[urlsplit(fake.root_url).netloc])}))
    result = cli("sync", "--json", "--config", str(config), env=ENV)
    assert result.code == 1
    registry = [r.headers for r in fake.requests if r.host == "registry"]
    assert registry and len(carried(registry)) == len(registry)
    assert carried([s.headers for s in hostile.seen]) == []
    assert result.json["mirrored"] >= 1


def test_loopback_bottle_is_refused_for_an_https_source(hostile: StubServer) -> None:
    """GIVEN a real https source THEN a bottle URL on loopback (any port) is never requested."""
    settings = Settings(source="https://formulae.brew.sh/api/formula.json", attempts=1)
    url = f"{hostile.base}/v2/x/blobs/sha256:{'a' * 64}"
    with (Upstream(settings) as upstream, pytest.raises(DisallowedURL, match="loopback"),
          upstream.open(url, "bottle x", auth=True)):
        pass  # pragma: no cover
    assert hostile.seen == []


@pytest.mark.parametrize("url", [
    "http://[::1/v2/homebrew/core/jq/blobs/sha256:{sha}",
    "http://127.0.0.1:99999/v2/homebrew/core/jq/blobs/sha256:{sha}",
    "http://\uff4cocalhost/v2/homebrew/core/jq/blobs/sha256:{sha}",
    "https://xn--ghcr-9ra.io/v2/homebrew/core/jq/blobs/sha256:{sha}",
    "http://2130706433/v2/homebrew/core/jq/blobs/sha256:{sha}",
    "http://0177.0.0.1/v2/homebrew/core/jq/blobs/sha256:{sha}",
])
def test_a_malformed_url_is_one_invalid_entry(homebrew: FakeHomebrew, url: str,
                                              cli: Callable[..., CliResult],
                                              tmp_path: Path) -> None:
    """GIVEN one entry whose URL urllib rejects or names an odd host THEN that entry is an
    InvalidEntry, the other formulae land, and the run exits 1 (no traceback)."""
    entry: dict[str, Any] = next(e for e in homebrew.catalogue if e["name"] == "jq")
    stable = entry["bottle"]["stable"]
    for info in stable["files"].values():
        info["url"] = url.format(sha=info["sha256"])
    stable["root_url"] = url.split("/jq/")[0]
    result = cli("sync", "--json")
    assert result.code == 1, result.err
    failures = result.json["failures"]
    assert {f["error"] for f in failures} == {"InvalidEntry"}
    assert all(f["bottle"] == "jq" for f in failures)
    assert any(n.startswith("wget-") for n in bottle_names(tmp_path / "mirror" / "bottles"))
