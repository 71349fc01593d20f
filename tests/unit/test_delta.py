"""delta.json: its own hash, its members and entries, and the names a delta may carry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bottlesync.delta import (
    API,
    BOTTLE,
    INDEX,
    TOC_FORMAT,
    kind_of,
    layout_of,
    parse_toc,
    toc_digest,
)
from bottlesync.errors import DeltaError

SHA = "a" * 64
FILE = "wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz"


def toc(**changes: Any) -> dict[str, Any]:
    """A valid one-bottle table, with `changes` applied and its hash recomputed."""
    doc: dict[str, Any] = {
        "format": TOC_FORMAT, "created_at": "x", "source": "/m", "runs": [], "since": "x",
        "members": [{"name": f"bottles/{FILE}", "sha256": SHA, "size": 3},
                    {"name": "bottles/wget/manifests/1.25.0_1-1", "sha256": SHA, "size": 3},
                    {"name": "api/formula.jws.json", "sha256": SHA, "size": 3}],
        "entries": {FILE: {"sha256": SHA, "size": 3, "key": f"bottles/{FILE}"}}, **changes}
    doc["toc_sha256"] = toc_digest(doc)
    return doc


def parse(doc: dict[str, Any], expect: str | None = None) -> Any:
    """parse_toc of the JSON text."""
    return parse_toc(json.dumps(doc).encode(), "d.tar", expect)


def test_a_valid_table_parses_with_kinds_in_order() -> None:
    """Members keep their order; each has its kind."""
    parsed = parse(toc())
    assert [parsed.kind(n) for n in parsed.members] == [BOTTLE, INDEX, API]
    assert parsed.digest == toc()["toc_sha256"]


def test_a_table_changed_without_its_hash_is_refused() -> None:
    """Any byte of meaning changed after hashing: refused."""
    doc = toc()
    doc["members"][0]["size"] = 4
    with pytest.raises(DeltaError, match="toc_sha256"):
        parse(doc)


def test_the_expected_hash_must_match() -> None:
    """--expect-sha256 pins the table an operator wrote down."""
    with pytest.raises(DeltaError, match="not the expected"):
        parse(toc(), expect="b" * 64)
    assert parse(toc(), expect=toc()["toc_sha256"]).digest == toc()["toc_sha256"]


@pytest.mark.parametrize("entries", [
    {FILE: {"sha256": "b" * 64, "size": 3, "key": f"bottles/{FILE}"}},  # not the member's sha
    {FILE: {"sha256": SHA, "size": 3, "key": "bottles/other-1.0.all.bottle.tar.gz"}},
    {"not-a-bottle.txt": {"sha256": SHA, "size": 3, "key": "bottles/not-a-bottle.txt"}},
    {FILE: {"sha256": SHA, "size": 3, "key": f"runs/{FILE}"}}])
def test_an_entry_must_name_its_bottle_member(entries: dict[str, Any]) -> None:
    """An entry whose key or sha256 does not match a bottle member is refused."""
    with pytest.raises(DeltaError, match="entries"):
        parse(toc(entries=entries))


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "bottles/../../x", "runs/x.json",
                                  "bottles_hash.json", ".bottlesync/tmp/x", "index.html",
                                  "bottles/wget-1.0.arm64_sequoia.bottle.tar.gz"])
def test_a_member_that_is_not_a_layout_key_is_refused(name: str) -> None:
    """Only entry bottles, OCI indexes and api/*.json may travel."""
    doc = toc()
    doc["members"].append({"name": name, "sha256": SHA, "size": 1})
    with pytest.raises(DeltaError, match="not a layout key"):
        parse(toc(members=doc["members"]))


def test_kinds_of_layout_keys() -> None:
    """Dated and artifact layouts' bottle keys and indexes are layout keys too."""
    assert kind_of(f"2026-11-28/{FILE}", {f"2026-11-28/{FILE}"}) == BOTTLE
    assert kind_of("v2/homebrew/core/openssl/3/manifests/3.4.0", set()) == INDEX
    assert kind_of("2026-11-28/wget/manifests/1.25.0_1-1", set()) == INDEX
    assert kind_of("api/internal/packages.arm64_sequoia.jws.json", set()) == API
    assert kind_of("api/formula/wget.json", set()) == API
    assert kind_of("api/../x.json", set()) is None


def test_layout_of_a_bottle_key() -> None:
    """An import records the layout its bottles came in (for the inside status page)."""
    assert layout_of(f"bottles/{FILE}") == "bottle-domain"
    assert layout_of(f"v2/homebrew/core/wget/blobs/sha256:{SHA}") == "artifact-domain"
    assert layout_of(f"2026-11-28/{FILE}") == "dated"
