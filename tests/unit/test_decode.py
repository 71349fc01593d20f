"""Typed records: a fitting entry decodes to its record, anything else comes back as raw bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bottlesync.catalog import parse_catalog
from bottlesync.decode import EntryRecord, catalogue_records, manifest_record
from tests.unit.test_catalog import entry, with_file


def records(*entries: Any) -> list[EntryRecord | bytes] | None:
    """catalogue_records of a catalogue made of `entries`."""
    return catalogue_records(json.dumps(list(entries)).encode())


def test_a_valid_catalogue_decodes_to_records_of_the_fields_read() -> None:
    """GIVEN valid entries with fields a mirror never reads WHEN decoded THEN each is a record
    holding name, version and bottle files, and nothing else."""
    out = records(entry("wget", desc="x" * 100, urls={"stable": {}}), entry("jq"))
    assert out is not None and all(isinstance(r, EntryRecord) for r in out)
    first = out[0]
    assert isinstance(first, EntryRecord)
    assert (first.name, first.versions.stable, first.revision) == ("wget", "1.25.0", 0)
    assert set(first.bottle.stable.files) == {"arm64_sequoia", "x86_64_linux"}  # type: ignore[union-attr]
    assert not hasattr(first, "desc")


@pytest.mark.parametrize("bad", [
    {**entry("bad"), "revision": 1.0},
    {**entry("bad"), "name": "a..b"},
    {**entry("bad"), "bottle": {"stable": None}},
    {**entry("bad"), "dependencies": [1]},
    {**entry("bad"), "versions": {"stable": "1.0\n"}},
    # each half fits alone: the fields are checked joined by newlines, so these must not pass
    {**entry("bad"), "name": "a\nb"},
    {**entry("bad"), "versions": {"stable": "1.0\n2.0"}},
    with_file(entry("bad"), "arm64_sequoia", sha256="a" * 64 + "\n" + "b" * 64),
    with_file(entry("bad"), "arm64_sequoia", url="ftp://x\nhttps://ghcr.io/v2/x"),
    {**entry("bad"), "bottle": {"stable": {**entry()["bottle"]["stable"],
                                           "root_url": "https://a\nhttps://b"}}},
    {**entry("bad"), "bottle": {"stable": {**entry()["bottle"]["stable"], "files": {
        "arm64\nsonoma": entry()["bottle"]["stable"]["files"]["arm64_sequoia"]}}}},
    "not an object",
])
def test_one_entry_that_does_not_fit_sends_the_document_to_the_exact_parser(bad: Any) -> None:
    """GIVEN one entry a record cannot hold, among good ones WHEN decoded THEN None (the exact
    parser reads it); and parse_catalog still loads the good ones and reports the bad one."""
    assert records(entry("a"), bad, entry("b")) is None
    catalog = parse_catalog(json.dumps([entry("a"), bad, entry("b")]).encode(), "formula.json")
    assert set(catalog.formulae) == {"a", "b"}
    assert [f.error for f in catalog.invalid] == ["InvalidEntry"]


@pytest.mark.parametrize("data", [b"{", b'{"a": 1}', b"[1,]", "[]".encode("utf-16"), b"[NaN]",
                                  b"[" * 100_000 + b"]" * 100_000])
def test_a_document_msgspec_cannot_read_is_left_to_the_exact_parser(data: bytes) -> None:
    """GIVEN bytes that are not a UTF-8 JSON array WHEN decoded THEN None (not an exception)."""
    assert catalogue_records(data) is None


def test_one_bad_entry_is_reported_with_the_exact_message_and_the_rest_load() -> None:
    """GIVEN a bad sha256 among good entries WHEN parsed THEN the entry is named as before."""
    bad = entry("bad")
    bad["bottle"]["stable"]["files"]["arm64_sequoia"]["sha256"] = "zz"
    catalog = parse_catalog(json.dumps([entry("a"), bad, entry("b")]).encode(), "formula.json")
    assert set(catalog.formulae) == {"a", "b"}
    [failure] = catalog.invalid
    assert failure.bottle == "bad" and failure.error == "InvalidEntry"
    assert failure.message.startswith("formula.json entry 1 ('bad')")


def manifest(**entry_fields: Any) -> bytes:
    """bottles_hash.json with one entry."""
    fields = {"sha256": "a" * 64, "size": 1, "key": "bottles/f", **entry_fields}
    return json.dumps({"schema": 1, "updated_at": None, "bottles": {"f": fields}}).encode()


def test_a_manifest_decodes_to_digests_and_keys() -> None:
    """GIVEN a valid manifest WHEN decoded THEN its entries' sha256 and key are there."""
    record = manifest_record(manifest())
    assert record is not None and record.schema == 1
    assert (record.bottles["f"].sha256, record.bottles["f"].key) == ("a" * 64, "bottles/f")


@pytest.mark.parametrize("data", [manifest(sha256="x"), manifest(key=3), b"[]", b"{"])
def test_a_manifest_that_does_not_fit_is_none(data: bytes) -> None:
    """GIVEN a bad digest, a bad key type or not a manifest WHEN decoded THEN None."""
    assert manifest_record(data) is None
