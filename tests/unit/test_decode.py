"""Typed records: a fitting entry decodes to its record, anything else comes back as raw bytes."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bottlesync.bottle import SHA256_RE
from bottlesync.catalog import parse_catalog
from bottlesync.decode import (
    EntryRecord,
    ManifestEntryRecord,
    ManifestRecord,
    all_digests,
    all_http,
    catalogue_records,
    manifest_record,
    plain_keys,
)
from bottlesync.stored import PLAIN_KEY_RE
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
    # tags and root URLs are checked once per distinct value: a bad one among many good ones
    {**entry("bad"), "bottle": {"stable": {**entry()["bottle"]["stable"], "files": {
        **entry()["bottle"]["stable"]["files"],
        "Arm64_Sequoia": entry()["bottle"]["stable"]["files"]["arm64_sequoia"]}}}},
    {**entry("bad"), "bottle": {"stable": {**entry()["bottle"]["stable"],
                                           "root_url": "ftp://ghcr.io/v2/homebrew/core"}}},
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


def corpus(alphabet: str, count: int, longest: int, seed: int) -> list[str]:
    """`count` random texts over `alphabet` (deterministic), short enough to hit edge cases."""
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))
            for _ in range(count)]


def test_all_digests_agrees_with_the_sha256_pattern_text_by_text() -> None:
    """GIVEN digests one character off in every way (case, length, non-ASCII, newline) THEN
    the regex-free bulk check says what SHA256_RE.fullmatch says of each."""
    good = "0123456789abcdef" * 4
    texts = [good, good.upper(), good[:-1], good + "0", good[:-1] + "g", good[:-1] + "\n",
             good[:-1] + "\u0660", good[:-1] + "\udc80", "", good.replace("a", "A", 1)]
    for text in texts:
        assert all_digests([good, text]) is bool(SHA256_RE.fullmatch(text)), repr(text)
    assert all_digests([]) and all_digests([good] * 3)


@pytest.mark.parametrize(("urls", "ok"), [
    ([], True), (["https://a/x", "http://b/y"], True), (["https://a/x\nhttps://b"], False),
    (["ftp://a/x"], False), (["xhttps://a"], False), (["https:/a"], False),
    (["https://a", "HTTPS://b"], False)])
def test_urls_must_all_be_http_without_a_newline(urls: list[str], ok: bool) -> None:
    assert all_http(urls) is ok


def test_plain_keys_agrees_with_the_plain_key_pattern_key_by_key() -> None:
    """GIVEN 20,000 random keys over the characters that matter (dots, slashes, newlines,
    non-ASCII word characters, a NUL) THEN the regex-free bulk check says exactly what
    PLAIN_KEY_RE.fullmatch says of each key."""
    keys = corpus("aZ0_.-/@+~:\n \u00e9\u0660\\\x00", 20_000, 7, seed=20261201)
    for key in keys:
        record = ManifestRecord(schema=1, bottles={"f": ManifestEntryRecord("a" * 64, key)})
        assert plain_keys(record) is bool(PLAIN_KEY_RE.fullmatch(key)), repr(key)
    both = ManifestRecord(schema=1, bottles={
        "f": ManifestEntryRecord("a" * 64, "bottles/f"), "g": ManifestEntryRecord("a" * 64, ".g")})
    assert not plain_keys(both)
