"""The catalogue: bad entries are reported and skipped, only an unusable document is fatal."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bottlesync.catalog import Catalog, _ArrayReader, iter_array, load_catalog, parse_catalog
from bottlesync.errors import CatalogError
from bottlesync.upstream import Upstream
from tests.fakes.homebrew import FakeHomebrew
from tests.unit.conftest import ROOT, sha

SOURCE = "formula.json"


def entry(name: str = "wget", version: str = "1.25.0", revision: int = 0, rebuild: int = 0,
          tags: tuple[str, ...] = ("arm64_sequoia", "x86_64_linux"), **extra: Any
          ) -> dict[str, Any]:
    """A catalogue entry with the fields formula.json has for bottles."""
    image = name.replace("@", "/").replace("+", "x")
    files = {tag: {"cellar": ":any", "sha256": sha(f"{name}{tag}"),
                   "url": f"{ROOT}/{image}/blobs/sha256:{sha(f'{name}{tag}')}"} for tag in tags}
    return {"name": name, "versions": {"stable": version, "bottle": True}, "revision": revision,
            "bottle": {"stable": {"rebuild": rebuild, "root_url": ROOT, "files": files}},
            "dependencies": [], "deprecated": False, "disabled": False, **extra}


def parse(*entries: Any) -> Catalog:
    """Parse a catalogue made of `entries`."""
    return parse_catalog(json.dumps(list(entries)).encode(), SOURCE)


def with_file(data: dict[str, Any], tag: str, **changes: Any) -> dict[str, Any]:
    """`data` with one bottle file's fields changed."""
    data["bottle"]["stable"]["files"][tag].update(changes)
    return data


def test_valid_catalogue_gives_formulae_with_bottles() -> None:
    """GIVEN valid entries THEN each formula has its bottles with pkgver and rebuild applied."""
    catalog = parse(entry("wget", revision=1, rebuild=1, dependencies=["openssl@3"]),
                    entry("openssl@3", "3.4.0", tags=("all",), deprecated=True))
    assert catalog.invalid == []
    wget = catalog.formulae["wget"]
    assert (wget.pkgver, wget.rebuild, wget.dependencies) == ("1.25.0_1", 1, ("openssl@3",))
    assert [b.file for b in wget.bottles] == [
        "wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz", "wget-1.25.0_1.x86_64_linux.bottle.1.tar.gz"]
    openssl = catalog.formulae["openssl@3"]
    assert openssl.deprecated and not openssl.disabled
    assert openssl.bottles[0].file == "openssl@3-3.4.0.all.bottle.tar.gz"
    assert openssl.bottles[0].sha256 == sha("openssl@3all")


BAD_ENTRIES: list[tuple[Any, str, str]] = [
    (entry("bad name"), "bad name", "name"),
    (entry("a..b"), "a..b", "name"),
    (entry("x@"), "x@", "image path"),
    (with_file(entry("wget"), "arm64_sequoia", sha256="abc"), "wget", "sha256"),
    (with_file(entry("jq"), "arm64_sequoia", sha256="A" * 64), "jq", "sha256"),
    (with_file(entry("tree"), "x86_64_linux", url=f"{ROOT}/tree/blobs/sha256:{'0' * 64}"),
     "tree", "url"),
    (with_file(entry("htop"), "x86_64_linux",
                url=f"https://evil.example/v2/htop/blobs/sha256:{sha('htopx86_64_linux')}"),
     "htop", "not under root_url"),
    (with_file(entry("git"), "x86_64_linux", url="file:///etc/passwd"), "git", "url"),
    (entry("node", tags=("Arm64 Sonoma",)), "node", "files"),
    (entry("ruby", revision=-1), "ruby", "revision"),
    (entry("perl", version="1.0/../../x"), "perl", "versions.stable"),
    ("just a string", "entry 0", "is not of type 'object'"),
    ({"name": "nobottle"}, "nobottle", "required"),
]


@pytest.mark.parametrize(("bad", "subject", "needle"), BAD_ENTRIES)
def test_invalid_entry_is_reported_and_others_load(bad: Any, subject: str, needle: str) -> None:
    """GIVEN one bad entry among good ones THEN it is a Failure naming it; the others load."""
    catalog = parse(bad, entry("ok1"), entry("ok2"))
    assert sorted(catalog.formulae) == ["ok1", "ok2"]
    [failure] = catalog.invalid
    assert failure.error == "InvalidEntry"
    assert failure.bottle == subject
    assert failure.message.startswith(f"{SOURCE} entry 0")
    assert needle in failure.message


def test_entry_number_is_its_position() -> None:
    """GIVEN a bad entry in third place THEN the message says entry 2 (where to look)."""
    catalog = parse(entry("a"), entry("b"), entry("c", revision="x"))
    assert catalog.invalid[0].message.startswith(f"{SOURCE} entry 2 ('c')")


def test_duplicate_name_keeps_the_first() -> None:
    """GIVEN two entries with one name THEN the second is reported and the first kept."""
    catalog = parse(entry("wget", "1.0"), entry("wget", "2.0"))
    assert catalog.formulae["wget"].pkgver == "1.0"
    [failure] = catalog.invalid
    assert (failure.bottle, failure.error) == ("wget", "InvalidEntry")
    assert "entry 1 ('wget'): duplicate formula name" in failure.message


def test_entries_without_bottles_are_skipped_silently() -> None:
    """GIVEN formulae without stable bottles or version THEN they are neither kept nor bad."""
    no_bottle = {**entry("src-only"), "bottle": {}}
    no_version = {**entry("head-only"), "versions": {"stable": None}}
    catalog = parse(no_bottle, no_version, entry("wget"))
    assert list(catalog.formulae) == ["wget"]
    assert catalog.invalid == []


def test_non_string_dependencies_make_the_entry_invalid() -> None:
    """GIVEN dependencies that are not names THEN the entry is reported, not half-used."""
    catalog = parse(entry("wget", dependencies=[{"name": "x"}]))
    assert catalog.formulae == {}
    assert "dependencies" in catalog.invalid[0].message


@pytest.mark.parametrize(
    ("data", "needle"),
    [(b"<html>Unicorn!</html>", "is not JSON"), (b'{"name": "wget"}', "is a dict, not a list"),
     (b"\xff\xfe", "is not JSON"), (b"", "is not JSON")],
)
def test_unusable_document_is_a_catalog_error(data: bytes, needle: str) -> None:
    """GIVEN a document that is not a JSON list THEN CatalogError names the source."""
    with pytest.raises(CatalogError, match=f"the catalogue {SOURCE} {needle}"):
        parse_catalog(data, SOURCE)


def test_local_file_source(tmp_path: Path, upstream: Upstream) -> None:
    """GIVEN a catalogue file (plain path or file://) THEN it loads without any HTTP."""
    path = tmp_path / "formula.json"
    path.write_text(json.dumps([entry("wget")]))
    assert list(load_catalog(str(path), upstream).formulae) == ["wget"]
    assert list(load_catalog(f"file://{path}", upstream).formulae) == ["wget"]


def test_unreadable_file_is_a_catalog_error(tmp_path: Path, upstream: Upstream) -> None:
    """GIVEN a missing file THEN CatalogError names it."""
    missing = tmp_path / "missing.json"
    with pytest.raises(CatalogError, match=f"cannot read the catalogue {missing}"):
        load_catalog(str(missing), upstream)


def test_http_source_from_the_fake(homebrew: FakeHomebrew, upstream: Upstream) -> None:
    """GIVEN the fake upstream THEN every formula loads with the fake's sha256 values."""
    catalog = load_catalog(homebrew.source_url, upstream)
    assert catalog.invalid == []
    assert len(catalog.formulae) == 7
    jq = {b.tag: b for b in catalog.formulae["jq"].bottles}
    assert jq["sonoma"].sha256 == homebrew.sha256("jq", "sonoma")
    assert jq["sonoma"].file == homebrew.file_name("jq", "sonoma")


@pytest.mark.parametrize(("kind", "params"), [("status", {"code": 404}), ("html", {})])
def test_http_failures_are_catalog_errors(
    homebrew: FakeHomebrew, upstream: Upstream, kind: str, params: dict[str, Any]
) -> None:
    """GIVEN a 404 or an HTML error page THEN CatalogError names the source URL."""
    homebrew.fault(kind, match="/api/formula.json", **params)
    with pytest.raises(CatalogError, match=homebrew.source_url):
        load_catalog(homebrew.source_url, upstream)


def test_catalogue_that_stays_unavailable(homebrew: FakeHomebrew, upstream: Upstream) -> None:
    """GIVEN a 503 on every attempt THEN CatalogError says it gave up after the attempts."""
    homebrew.fault("status", match="/api/formula.json", times=-1, code=503)
    with pytest.raises(CatalogError, match="gave up after 3 attempts"):
        load_catalog(homebrew.source_url, upstream)
    assert homebrew.count("catalogue") == 3


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8")),  # astral characters included
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(JSON_VALUES, max_size=6), window=st.integers(1, 9),
       indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_windowed_reader_agrees_with_json_loads(values: list[Any], window: int,
                                                indent: int | None, ascii_only: bool) -> None:
    """GIVEN any JSON array, any spacing, a window of a few bytes THEN the same elements."""
    data = json.dumps(values, indent=indent, ensure_ascii=ascii_only).encode()
    with patch.object(_ArrayReader, "WINDOW", window):
        assert list(iter_array(data, "x")) == json.loads(data)


@pytest.mark.parametrize("text", ['[1,]', '[1 2]', '[1', '[', '[] x', '[]]', '{"a": 1}', '3',
                                  '', '[1e]', '["\\ud800"', b'[\xff]'.decode("latin-1")])
def test_windowed_reader_fails_where_json_loads_fails(text: str) -> None:
    """GIVEN what json.loads rejects (or a non-list) THEN CatalogError, never partial output."""
    with patch.object(_ArrayReader, "WINDOW", 2), pytest.raises(CatalogError):
        list(iter_array(text.encode("latin-1"), "x"))


def test_windowed_reader_keeps_memory_to_a_window() -> None:
    """GIVEN a 40 MB array with an astral character THEN the peak is far below json.loads's."""
    data = json.dumps([{"desc": "x" * 4000, "n": i} for i in range(10_000)] + ["\U0001F37A"],
                      ensure_ascii=False).encode()
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_array(data, "x"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 10_001
    assert peak < len(data) // 4  # json.loads needs ~4x the text: one UCS-4 str, then objects


@pytest.mark.parametrize("source", ["ftp://mirror.example.com/formula.json",
                                    "s3://bucket/formula.json", "HTTPX://example.com/f.json"])
def test_source_with_another_scheme_is_unsupported(source: str, upstream: Upstream) -> None:
    """GIVEN a source URL whose scheme is not https/http/file THEN "unsupported scheme", not
    "No such file"."""
    with pytest.raises(CatalogError, match=f"unsupported scheme .* in the catalogue source "
                                           f"{source}"):
        load_catalog(source, upstream)


def test_empty_catalogue_is_a_catalog_error() -> None:
    """GIVEN `[]` THEN CatalogError: a broken upstream must never look like "nothing to do"."""
    with pytest.raises(CatalogError, match=f"the catalogue {SOURCE} is an empty list"):
        parse_catalog(b" [ ] ", SOURCE)
