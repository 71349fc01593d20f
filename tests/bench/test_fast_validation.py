"""The plan's fast path (catalog.plainly_valid) never accepts what the JSON Schema rejects."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bench import generate
from bottlesync.catalog import parse_catalog, plainly_valid
from bottlesync.schemas import validator

ROOT = "https://ghcr.io/v2/homebrew/core"
SHA = "a" * 64
ODD = st.sampled_from([None, True, False, 0, 1, 1.0, -1, 10_000, 10_001, "", "x", "a..b", "ok\n",
                       "-x", "@x", "x@", "B@d!", "1.0", "1.0 rc", "https://h/p/", "https://h/p",
                       "ftp://h/p", "https://u@h/p", "UPPER", "a" * 64, "g" * 64, "a" * 129,
                       [], ["dep"], [1], {}, {"stable": "1.0"}, {"stable": None}])
PATHS = st.sampled_from([
    ("name",), ("versions",), ("versions", "stable"), ("revision",), ("dependencies",),
    ("deprecated",), ("disabled",), ("bottle",), ("bottle", "stable"),
    ("bottle", "stable", "rebuild"), ("bottle", "stable", "root_url"),
    ("bottle", "stable", "files"), ("bottle", "stable", "files", "arm64_sequoia"),
    ("bottle", "stable", "files", "arm64_sequoia", "url"),
    ("bottle", "stable", "files", "arm64_sequoia", "sha256"),
    ("bottle", "stable", "files", "arm64_sequoia", "cellar"),
    ("bottle", "stable", "files", "Bad Tag"),
])


def base_entry() -> dict[str, Any]:
    """A valid entry with every field the schema looks at."""
    return {"name": "wget", "versions": {"stable": "1.25.0"}, "revision": 1,
            "dependencies": ["openssl@3"], "deprecated": False, "disabled": False,
            "bottle": {"stable": {"rebuild": 1, "root_url": ROOT, "files": {"arm64_sequoia": {
                "cellar": ":any", "url": f"{ROOT}/wget/blobs/sha256:{SHA}", "sha256": SHA}}}}}


def mutate(entry: dict[str, Any], path: tuple[str, ...], value: object, drop: bool) -> None:
    """Set (or delete) the value at `path`, creating nothing on the way."""
    node: Any = entry
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    if isinstance(node, dict):
        if drop:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(PATHS, ODD, st.booleans()), min_size=1, max_size=3))
def test_fast_check_implies_the_schema(changes: list[tuple[tuple[str, ...], object, bool]]
                                       ) -> None:
    """GIVEN an entry with odd values in the fields the schema constrains WHEN checked
    THEN plainly_valid is True only if jsonschema accepts it too."""
    entry = copy.deepcopy(base_entry())
    for path, value, drop in changes:
        mutate(entry, path, value, drop)
    if plainly_valid(entry):
        assert validator("catalog-entry").is_valid(entry), entry


def test_fast_check_accepts_every_generated_entry() -> None:
    """The realistic catalogue is all plainly valid, so jsonschema never runs on it."""
    formulae = generate.generate(300)
    catalog = parse_catalog(generate.catalogue_bytes(formulae, ROOT), "generated")
    entries = [generate.entry(f, ROOT, generate.random.Random(1)) for f in formulae]
    assert all(plainly_valid(e) for e in entries)
    assert not catalog.invalid
    assert len(catalog.formulae) == sum(1 for f in formulae if f.tags)


def test_fast_check_defers_odd_but_valid_entries_to_the_schema() -> None:
    """A float revision like 1.0 is valid JSON Schema; the fast check leaves it to jsonschema."""
    entry = base_entry()
    entry["revision"] = 0.0
    assert not plainly_valid(entry)
    assert validator("catalog-entry").is_valid(entry)
