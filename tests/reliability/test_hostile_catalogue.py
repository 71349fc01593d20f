"""GIVEN hostile catalogue entries WHEN they are parsed, keyed and mirrored THEN none escapes.

Properties over names, versions, tags, rebuilds and URLs: every accepted bottle's key passes
check_key and resolves inside the destination for every layout, its file name round-trips through
brew's own regex (tag and rebuild recovered), its URL is one the host policy judges; every rejected
entry is reported as InvalidEntry; a hostile neighbour never costs a good entry.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bottlesync.bottle import BREW_FILE_RE, LAYOUTS, key_for
from bottlesync.catalog import parse_catalog
from bottlesync.errors import DisallowedURL
from bottlesync.storage import LocalStorage, check_key
from bottlesync.upstream import HostPolicy, is_loopback
from tests.conftest import CliResult
from tests.fakes.homebrew import FakeHomebrew

SHA = "ab" * 32
ROOT = "https://ghcr.io/v2/homebrew/core"
SOURCE = "https://formulae.brew.sh/api/formula.json"
NASTY = ["..", ".", "/", "\\", "%2e%2e", "%2f", "\x00", " ", "\n", "@", "+", "~", "?", "#", "é",
         "\u202e", ":", "//", "../", "/..", "@/", "-"]
text = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "@+._-/\\~%:?#", max_size=40),
    st.lists(st.sampled_from([*NASTY, "a", "b", "1", "lib"]), max_size=8).map("".join),
    st.text(max_size=20),
)
integers = st.one_of(st.integers(-5, 20_000), st.sampled_from([10**30, 1.0, 2.5, True, "1", None]))
hosts = st.sampled_from(["ghcr.io", "127.0.0.1:8080", "evil.example.net", "ghcr.io.evil.net",
                         "user:pw@ghcr.io", "[::1]", "localhost", "169.254.169.254", ""])
BREW = re.compile(r"\.([a-z0-9_]+)\.bottle\.(?:(\d+)\.)?tar\.gz$")
TMP = Path("/tmp/bottlesync-hostile-root")


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    """A catalogue entry whose every identifying field may be hostile."""
    name = draw(st.one_of(text, st.sampled_from(["wget", "openssl@3", "libxml++", "a.b-c_d"])))
    version = draw(st.one_of(text, st.sampled_from(["1.2.3", "2026-11-01", "1.0~rc1"])))
    tags = draw(st.lists(st.one_of(text, st.sampled_from(["arm64_sequoia", "all"])), min_size=1,
                         max_size=3))
    scheme = draw(st.sampled_from(["https", "http", "ftp", "file", "javascript"]))
    root = draw(st.one_of(st.just(ROOT), hosts.map(lambda h: f"{scheme}://{h}/v2/homebrew/core")))
    image = name.replace("@", "/").replace("+", "x") if isinstance(name, str) else ""
    tail = draw(st.one_of(st.just(f"/{image}/blobs/sha256:{SHA}"), text))
    sha = draw(st.one_of(st.just(SHA), text))
    return {
        "name": name,
        "versions": {"stable": version},
        "revision": draw(integers),
        "bottle": {"stable": {"rebuild": draw(integers), "root_url": root,
                              "files": {tag: {"url": root + tail, "sha256": sha} for tag in tags}}},
    }


GOOD = {"name": "good", "versions": {"stable": "1.0"}, "revision": 0,
        "bottle": {"stable": {"rebuild": 1, "root_url": ROOT, "files": {
            "arm64_sequoia": {"url": f"{ROOT}/good/blobs/sha256:{SHA}", "sha256": SHA}}}}}


def _inside(root: Path, key: str) -> bool:
    """True when the key's LocalStorage path resolves under root."""
    path = LocalStorage(root)._path(key).resolve()
    return path == root.resolve() or root.resolve() in path.parents


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries(), max_size=4))
def test_no_accepted_bottle_leaves_the_prefix_or_the_allowed_hosts(
    hostile: list[dict[str, Any]],
) -> None:
    """GIVEN hostile entries beside a good one THEN only safe bottles survive; the rest reported."""
    catalog = parse_catalog(json.dumps([GOOD, *hostile]).encode(), SOURCE)
    assert "good" in catalog.formulae
    names = [e["name"] for e in hostile]
    accounted = len(catalog.formulae) + len(catalog.invalid)
    assert accounted == 1 + len(hostile)  # every entry has bottles: kept or reported
    assert {f.error for f in catalog.invalid} <= {"InvalidEntry"}
    assert all(f.message for f in catalog.invalid)
    policy = HostPolicy.for_source(SOURCE)
    for formula in catalog.formulae.values():
        assert formula.name == "good" or formula.name in names
        for bottle in formula.bottles:
            match = BREW.search(bottle.file)
            assert match and BREW_FILE_RE.search(bottle.file)
            assert match.group(1) == bottle.tag
            assert match.group(2) == (str(bottle.rebuild) if bottle.rebuild > 0 else None)
            assert bottle.file.startswith(f"{bottle.name}-{bottle.pkgver}.")
            for layout in LAYOUTS:
                key = key_for(bottle, layout, "2026-11-28")
                assert check_key(key) == key
                assert _inside(TMP, key)
                assert "/" not in key.removeprefix("bottles/") or layout != "bottle-domain"
            _assert_host_judged(policy, bottle.url)


def _assert_host_judged(policy: HostPolicy, url: str) -> None:
    """An accepted URL is either refused by the host policy or names an allowed host."""
    try:
        policy.check(url, "bottle")
    except DisallowedURL:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    assert host in policy.hosts or is_loopback(host)
    assert parts.scheme == "https" or is_loopback(host)
    assert not parts.username and not parts.password


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase + string.digits + "_", min_size=1, max_size=64),
       st.integers(0, 10_000), st.sampled_from(["wget", "openssl@3", "libxml++", "a-b_c.d"]),
       st.sampled_from(["1.2.3", "1.0~rc1", "2026-11-01", "3.4.0_1"]))
def test_valid_file_names_round_trip_through_brews_regex(tag: str, rebuild: int, name: str,
                                                          version: str) -> None:
    """GIVEN any valid tag and rebuild THEN brew's regex recovers exactly that tag and rebuild."""
    entry = json.loads(json.dumps(GOOD))
    image = name.replace("@", "/").replace("+", "x")
    entry.update(name=name, versions={"stable": version})
    entry["bottle"]["stable"].update(rebuild=rebuild, files={
        tag: {"url": f"{ROOT}/{image}/blobs/sha256:{SHA}", "sha256": SHA}})
    catalog = parse_catalog(json.dumps([entry]).encode(), SOURCE)
    assert catalog.invalid == []
    [bottle] = catalog.formulae[name].bottles
    match = BREW_FILE_RE.search(bottle.file)
    assert match is not None
    assert match.group(1) == tag
    assert match.group(2) == (str(rebuild) if rebuild else None)


def test_integral_floats_are_not_integers(tmp_path: Path) -> None:
    """GIVEN rebuild or revision 1.0 (JSON Schema calls it an integer) THEN InvalidEntry."""
    for field in ("rebuild", "revision"):
        entry = json.loads(json.dumps(GOOD))
        if field == "rebuild":
            entry["bottle"]["stable"]["rebuild"] = 1.0
        else:
            entry["revision"] = 1.0
        catalog = parse_catalog(json.dumps([entry]).encode(), SOURCE)
        assert not catalog.formulae
        assert [f.error for f in catalog.invalid] == ["InvalidEntry"]
        assert "not an integer" in catalog.invalid[0].message


HOSTILE_NAMES = ["../../etc/passwd", "..", "a/../../b", "/abs", "x\\..\\y", "ok/..", "\x00nul"]


def test_hostile_entries_in_a_real_sync_are_reported_and_the_rest_lands(
    cli: Callable[..., CliResult], homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN path-traversal names, tags and versions served THEN exit 1 and nothing escapes."""
    template = homebrew.catalogue[0]
    for i, evil in enumerate(HOSTILE_NAMES):
        entry = json.loads(json.dumps(template))
        field = ("name", "version", "tag")[i % 3]
        if field == "name":
            entry["name"] = evil
        elif field == "version":
            entry["name"], entry["versions"]["stable"] = f"v{i}", evil
        else:
            entry["name"] = f"t{i}"
            files = entry["bottle"]["stable"]["files"]
            files[evil] = files.pop("arm64_sequoia")
        homebrew.catalogue.append(entry)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cli("sync", "--json")
    assert result.code == 1, result.err
    failures = result.json["failures"]
    assert len(failures) == len(HOSTILE_NAMES)
    assert {f["error"] for f in failures} == {"InvalidEntry"}
    assert result.json["mirrored"] == result.json["selected"] == 13
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({*before, "mirror", "config.yaml"})
    for path in (tmp_path / "mirror").rglob("*"):
        assert path.resolve().is_relative_to((tmp_path / "mirror").resolve())
    assert sorted(p.name for p in (tmp_path / "mirror").iterdir()) == [
        ".bottlesync", "bottles", "bottles_hash.json", "index.html", "runs", "status.json"]
