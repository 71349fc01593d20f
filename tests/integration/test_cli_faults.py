"""Upstream faults through the CLI: transient ones are retried, the rest fail only their bottle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SMALL_CATALOGUE, TEST_TAGS, bottle_names
from tests.fakes.homebrew import FakeHomebrew, free_port_url
from tests.integration.conftest import bottle_files, entry

ALL_NAMES = tuple(f.name for f in SMALL_CATALOGUE)
TARGET = ("openssl@3", "arm64_sequoia")  # a literal `@` in its file name, `/` in its image

TRANSIENT = [
    pytest.param("status", {"code": 408}, id="408"),
    pytest.param("status", {"code": 429, "retry_after": 1}, id="429-retry-after"),
    pytest.param("status", {"code": 429}, id="429"),
    pytest.param("status", {"code": 500}, id="500"),
    pytest.param("status", {"code": 502}, id="502"),
    pytest.param("status", {"code": 503, "retry_after": 0}, id="503"),
    pytest.param("status", {"code": 504}, id="504"),
    pytest.param("reset", {}, id="reset"),
    pytest.param("truncate", {}, id="truncate"),
    pytest.param("wrong_length", {}, id="wrong-length"),
    pytest.param("stall", {"seconds": 1.5}, id="stall-beyond-read-timeout"),
]

PERMANENT = [
    pytest.param("wrong_bytes", -1, {}, {"DigestMismatch"}, id="wrong-bytes"),
    pytest.param("html", -1, {}, {"DigestMismatch", "UpstreamError"}, id="html-page"),
    pytest.param("redirect_to", 1, {"url": "https://evil.example.com/blob"}, {"DisallowedURL"},
                 id="redirect-elsewhere"),
    pytest.param("redirect_loop", -1, {}, {"UpstreamError"}, id="redirect-loop"),
    pytest.param("status", 1, {"code": 404}, {"UpstreamError"}, id="404-not-retried"),
    pytest.param("status", -1, {"code": 503}, {"TransientUpstreamError"}, id="503-forever"),
]


def blob_gets(fake: FakeHomebrew, sha: str) -> int:
    """Registry blob requests for one digest."""
    return sum(1 for r in fake.requests if r.host == "registry" and sha in r.path)


def manifest(mirror: Path) -> dict[str, Any]:
    """The bottles of bottles_hash.json."""
    bottles: dict[str, Any] = json.loads((mirror / "bottles_hash.json").read_text())["bottles"]
    return bottles


@pytest.mark.parametrize(("kind", "params"), TRANSIENT)
def test_transient_blob_fault_is_retried_and_the_bottle_lands(
    cli, homebrew: FakeHomebrew, tmp_path: Path, kind: str, params: dict[str, Any]
) -> None:
    """GIVEN one transient fault on a bottle WHEN sync runs THEN it is retried and lands."""
    sha = homebrew.sha256(*TARGET)
    homebrew.fault(kind, sha, times=1, **params)
    result = cli("sync", "--json", read_timeout=0.5)
    assert result.code == 0, result.out + result.err
    assert homebrew.faults_served[kind] == 1
    assert blob_gets(homebrew, sha) == 2
    stored = tmp_path / "mirror" / "bottles" / homebrew.file_name(*TARGET)
    assert stored.read_bytes() == homebrew.blob(*TARGET)
    assert result.json["mirrored"] == result.json["selected"]


@pytest.mark.parametrize(("kind", "times", "params", "errors"), PERMANENT)
def test_permanent_blob_fault_fails_only_that_bottle_and_a_rerun_converges(
    cli, homebrew: FakeHomebrew, tmp_path: Path, kind: str, times: int,
    params: dict[str, Any], errors: set[str]
) -> None:
    """GIVEN a fault a retry cannot fix THEN that bottle fails, hidden, and a re-run heals it."""
    file = homebrew.file_name(*TARGET)
    homebrew.fault(kind, homebrew.sha256(*TARGET), times=times, **params)
    result = cli("sync", "--json")
    assert result.code == 1
    [failure] = result.json["failures"]
    assert failure["bottle"] == file and failure["error"] in errors
    assert file in failure["message"]
    mirror = tmp_path / "mirror"
    assert not (mirror / "bottles" / file).exists()
    assert not list((mirror / ".bottlesync" / "tmp").iterdir())
    others = bottle_files(homebrew, ALL_NAMES, TEST_TAGS) - {file}
    assert set(manifest(mirror)) == others
    assert bottle_names(mirror / "bottles") == others

    homebrew.clear_faults()
    again = cli("sync", "--json")
    assert again.code == 0, again.out + again.err
    assert (again.json["mirrored"], again.json["present"]) == (1, len(others))
    assert (mirror / "bottles" / file).read_bytes() == homebrew.blob(*TARGET)
    assert manifest(mirror)[file]["sha256"] == homebrew.sha256(*TARGET)
    verify = cli("verify", "--json")
    assert verify.code == 0, verify.out + verify.err
    assert verify.json["checked"] == len(others) + 1


@pytest.mark.parametrize("spoil", ["not-json", "not-a-list", "404", "503-forever", "refused"])
def test_unreadable_catalogue_exits_2_and_writes_nothing(
    cli, homebrew: FakeHomebrew, tmp_path: Path, spoil: str
) -> None:
    """GIVEN a catalogue that cannot be fetched or parsed THEN exit 2 naming it, no dest dir."""
    source = homebrew.source_url
    if spoil == "not-json":
        homebrew.raw_catalogue = b"<html><body>Service Unavailable</body></html>"
    elif spoil == "not-a-list":
        homebrew.raw_catalogue = json.dumps({"formulae": homebrew.catalogue}).encode()
    elif spoil == "404":
        homebrew.fault("status", "/api/formula.json", times=-1, code=404)
    elif spoil == "503-forever":
        homebrew.fault("status", "/api/formula.json", times=-1, code=503)
    else:
        source = free_port_url() + "api/formula.json"
    result = cli("sync", "--source", source, "--json")
    assert result.code == 2
    assert source in result.err
    assert result.out == "" and "Traceback" not in result.err
    assert not (tmp_path / "mirror").exists()
    assert homebrew.count("blob") == 0


def spoiled(fake: FakeHomebrew, name: str, change: str) -> dict[str, Any]:
    """A copy of libunistring's entry renamed to `name` with one field made invalid."""
    bad: dict[str, Any] = json.loads(json.dumps(entry(fake, "libunistring")))
    bad["name"] = bad["full_name"] = name
    files = bad["bottle"]["stable"]["files"]
    if change == "sha":
        files["arm64_sequoia"]["sha256"] = "not-a-sha256"
    elif change == "url":
        files["arm64_sequoia"]["url"] = bad["bottle"]["stable"]["root_url"] + "/../../etc/passwd"
    elif change == "tag":
        files["../../escape"] = files.pop("arm64_sequoia")
    return bad


def test_invalid_catalogue_entries_are_reported_and_the_rest_lands(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN entries with a bad name, sha, url or tag THEN each is an InvalidEntry, exit 1."""
    bad = {"lib..evil": "name", "badsha": "sha", "badurl": "url", "badtag": "tag"}
    homebrew.catalogue.extend(spoiled(homebrew, name, change) for name, change in bad.items())
    result = cli("sync", "--json")
    assert result.code == 1
    failures = {f["bottle"]: f for f in result.json["failures"]}
    assert set(failures) == set(bad)
    for name, failure in failures.items():
        assert failure["error"] == "InvalidEntry"
        assert name in failure["message"]
    good = bottle_files(homebrew, ALL_NAMES, TEST_TAGS)
    assert result.json["mirrored"] == result.json["selected"] == len(good)
    assert bottle_names(tmp_path / "mirror" / "bottles") == good
    assert set(manifest(tmp_path / "mirror")) == good
