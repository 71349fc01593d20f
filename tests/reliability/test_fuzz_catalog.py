"""GIVEN thousands of malformed catalogues WHEN parsed THEN only a Catalog or CatalogError.

Three generators: arbitrary JSON-ish values, real entries with one field mutated or deleted, and
the bytes of a real catalogue cut, spliced and corrupted (including nesting deeper than the
parser's recursion limit). Whatever they produce, parse_catalog must answer with a Catalog whose
bad entries are reported, or with CatalogError: never another exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bottlesync.catalog import Catalog, parse_catalog
from bottlesync.errors import CatalogError
from tests.fakes.homebrew import FakeHomebrew
from tests.reliability.conftest import many_formulae

SOURCE = "https://formulae.brew.sh/api/formula.json"
FUZZ = settings(max_examples=800, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["", "../x", "a" * 64, "https://x/"]))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=30)


@pytest.fixture(scope="module")
def real_entries() -> Iterator[list[dict[str, Any]]]:
    """Real-shaped formula.json entries (every field the API has)."""
    with FakeHomebrew(many_formulae(5)) as fake:
        yield json.loads(json.dumps(fake.catalogue))


def _parse(data: bytes) -> Catalog | None:
    """parse_catalog, allowing only its documented error."""
    try:
        catalog = parse_catalog(data, SOURCE)
    except CatalogError as exc:
        assert str(exc)
        return None
    assert isinstance(catalog, Catalog)
    assert all(f.error in ("InvalidEntry",) and f.message for f in catalog.invalid)
    return catalog


@FUZZ
@given(json_values)
def test_arbitrary_json_documents(doc: Any) -> None:
    """GIVEN any JSON value THEN a Catalog (non-empty lists) or CatalogError (anything else,
    the empty list included: a broken upstream must never look like "nothing to do")."""
    catalog = _parse(json.dumps(doc).encode())
    assert (catalog is not None) == (isinstance(doc, list) and doc != [])
    if catalog is not None:
        assert len(catalog.formulae) + len(catalog.invalid) <= len(doc)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@FUZZ
@given(st.data())
def test_real_entries_with_mutated_fields(real_entries: list[dict[str, Any]],
                                          data: st.DataObject) -> None:
    """GIVEN real entries with fields replaced or deleted THEN bad ones are reported, not fatal."""
    entries = json.loads(json.dumps(real_entries))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(entries) - 1))
        paths = [p for p in _paths(entries[index]) if p]
        path = data.draw(st.sampled_from(paths))
        parent = entries[index]
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    catalog = _parse(json.dumps(entries).encode())
    assert catalog is not None
    assert len(catalog.formulae) + len(catalog.invalid) <= len(entries)
    names = [e.get("name") for e in entries if isinstance(e, dict)]
    originals = {json.dumps(e, sort_keys=True) for e in real_entries}  # type-exact: False != 0
    untouched = {e["name"] for e in entries
                 if json.dumps(e, sort_keys=True) in originals and names.count(e["name"]) == 1}
    assert untouched <= set(catalog.formulae)


@FUZZ
@given(st.data())
def test_corrupted_bytes(real_entries: list[dict[str, Any]], data: st.DataObject) -> None:
    """GIVEN a real catalogue's bytes cut, spliced, flipped or nested absurdly THEN no crash."""
    raw = bytearray(json.dumps(real_entries).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["cut", "insert", "flip", "nest"]))
        if action == "cut":
            del raw[at:at + data.draw(st.integers(1, 200))]
        elif action == "insert":
            raw[at:at] = data.draw(st.binary(max_size=20))
        elif action == "flip" and at < len(raw):
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        else:
            depth = data.draw(st.integers(1, 5000))
            raw[at:at] = b"[" * depth + b"]" * depth
    _parse(bytes(raw))


@pytest.mark.parametrize("doc", [b"[" * 100_000, b'[{"name": ' + b"[" * 3000 + b"]" * 3000 + b"}]",
                                 b"\xff\xfe[]", b"", b"[1e999, NaN, -Infinity]",
                                 b"[" + b"9" * 5000 + b"]"])
def test_known_nasties(doc: bytes) -> None:
    """GIVEN the classics (deep nesting, bad encodings, huge numbers) THEN only CatalogError."""
    _parse(doc)
