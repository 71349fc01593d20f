"""The formula catalogue: fetch, parse, validate each entry, keep the good, report the bad."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from bottlesync.bottle import (
    MAX_REBUILD,
    NAME_RE,
    SHA256_RE,
    TAG_RE,
    VERSION_RE,
    Bottle,
    check_bottle,
    image_name,
    pkgver,
    plainly_safe,
)
from bottlesync.decode import ROOT_URL_RE, EntryRecord, catalogue_records
from bottlesync.errors import (
    BottlesyncError,
    CatalogError,
    CatalogUnavailable,
    Failure,
    InvalidEntry,
    TransientUpstreamError,
)
from bottlesync.jws import is_signed, load_public_key, verified_payload
from bottlesync.schemas import first_error
from bottlesync.upstream import Upstream


class Formula(NamedTuple):
    """The parts of a catalogue entry a mirror needs; `files` are checked (tag, sha256, url).

    A named tuple: immutable like a frozen dataclass, and made ~3x quicker (8,400 per plan).
    """

    name: str
    pkgver: str
    rebuild: int
    files: tuple[tuple[str, str, str], ...]
    dependencies: tuple[str, ...]
    deprecated: bool
    disabled: bool

    @property
    def bottles(self) -> tuple[Bottle, ...]:
        """Built when asked: a no-op run compares names and digests without 44k objects."""
        return tuple([Bottle(self.name, self.pkgver, tag, self.rebuild, sha256, url)
                      for tag, sha256, url in self.files])

    @property
    def tags(self) -> list[str]:
        """The tags this formula has bottles for."""
        return [tag for tag, _sha256, _url in self.files]


@dataclass
class Catalog:
    """Valid formulae by name, plus one InvalidEntry per rejected entry."""

    source: str
    formulae: dict[str, Formula]
    invalid: list[Failure] = field(default_factory=list)
    signed: bytes | None = None  # the verified formula.jws.json as fetched, to mirror as it is


SOURCE_SCHEMES = ("https", "http", "file")


def read_source(source: str, upstream: Upstream) -> bytes:
    """The raw catalogue from an http(s) URL or a local file; CatalogError names the source."""
    scheme, sep, _rest = source.partition("://")
    if sep and scheme.lower() not in SOURCE_SCHEMES:
        raise CatalogError(f"unsupported scheme {scheme + sep!r} in the catalogue source {source}: "
                           f"use https://, http:// (loopback), file:// or a path")
    try:
        if source.startswith(("https://", "http://")):
            return upstream.get_bytes(source, "catalogue")
        path = Path(source.removeprefix("file://"))
        return path.read_bytes()
    except TransientUpstreamError as exc:
        raise CatalogUnavailable(f"cannot fetch the {exc}") from None
    except BottlesyncError as exc:
        raise CatalogError(f"cannot fetch the {exc}") from None
    except OSError as exc:
        raise CatalogError(f"cannot read the catalogue {source}: {exc.strerror or exc}") from None


def parse_catalog(data: bytes, source: str) -> Catalog:
    """Parse and validate; only an empty list, a non-list or a non-JSON document is fatal.

    Typed records (decode.py) come first; when an entry does not fit one, or msgspec does not
    read the document, the exact path below reads it, so each InvalidEntry or CatalogError is
    worded as always.
    """
    catalog = Catalog(source=source, formulae={})
    records = catalogue_records(data)
    index = -1
    for index, entry in enumerate(iter_array(data, source) if records is None else records):
        where = _where(source, index, entry)
        try:
            formula = (_record_formula(entry, where) if isinstance(entry, EntryRecord)
                       else _checked_formula(entry, where))
        except InvalidEntry as exc:
            catalog.invalid.append(Failure.of(_subject(index, entry), exc))
            continue
        if formula is None:
            continue
        if formula.name in catalog.formulae:
            message = f"{where}: duplicate formula name"
            catalog.invalid.append(Failure.of(formula.name, InvalidEntry(message)))
            continue
        catalog.formulae[formula.name] = formula
    if index < 0:  # a broken upstream must never look like "nothing to do"
        raise CatalogError(f"the catalogue {source} is an empty list: no formula to mirror")
    return catalog


def _checked_formula(entry: Any, where: str) -> Formula | None:
    """The exact path: the fast check, else jsonschema, which also words the error."""
    if plainly_valid(entry):
        return _formula(entry, where, plain=True)
    try:
        problem = first_error("catalog-entry", entry)
    except RecursionError:  # jsonschema recurses (and reprs) as deep as the entry nests
        problem = "nested too deeply to check"
    if problem is not None:
        raise InvalidEntry(f"{where}: {problem}")
    return _formula(entry, where)


def _not_json(source: str, exc: Exception) -> CatalogError:
    """The fatal error for a catalogue that is not JSON at all."""
    return CatalogError(f"the catalogue {source} is not JSON: {exc}")


def iter_array(data: bytes, source: str) -> Iterator[Any]:
    """The elements of a top-level JSON array, decoded one at a time (see _ArrayReader)."""
    return iter(_ArrayReader(data, source))


class _ArrayReader:
    """Decode a top-level JSON array entry by entry through a 1 MiB text window.

    json.loads of formula.json holds the whole text (4 bytes a character as soon as one
    character lies outside the BMP: ~124 MB) and every object at once; beside boto3 that
    overflows a 256 MB Lambda. Here only one window and the small Formula projections live.
    The grammar is json.loads's: whatever it rejects raises CatalogError.
    """

    WINDOW = 1 << 20

    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.source = data, source
        try:
            self._decode = codecs.getincrementaldecoder(json.detect_encoding(data))(
                "surrogatepass").decode
        except LookupError as exc:
            raise _not_json(source, exc) from None
        self.offset, self.buf, self.pos = 0, "", 0
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        """Append the next window of text to what is left; False when there is no more."""
        if self.offset >= len(self.data):
            return False
        chunk = self.data[self.offset:self.offset + self.WINDOW]
        self.offset += len(chunk)
        try:
            text = self._decode(chunk, final=self.offset >= len(self.data))
        except UnicodeDecodeError as exc:
            raise _not_json(self.source, exc) from None
        self.buf, self.pos = self.buf[self.pos:] + text, 0
        return True

    def _next_char(self) -> str:
        """Skip whitespace; the next character, or '' at the end of the document."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self._fill():
                return self.buf[self.pos:self.pos + 1]

    def _value(self) -> Any:
        """The next JSON value; a value cut by the window's edge is retried with more text."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except ValueError as exc:
                if not self._fill():
                    raise _not_json(self.source, exc) from None
                continue
            except RecursionError as exc:
                raise _not_json(self.source, exc) from None
            # only a number decodes without error when the window cuts it ("0." | "5"), and
            # then it ends within a few characters of the window's edge: look further
            if (isinstance(value, int | float) and end > len(self.buf) - 64
                    and self._fill()):
                continue
            self.pos = end
            return value

    def _expect(self, chars: str) -> str:
        """Consume one of `chars` after optional whitespace, or fail as json.loads would."""
        char = self._next_char()
        if not char or char not in chars:
            found = repr(char) if char else "the end"
            raise _not_json(self.source, ValueError(f"expected {' or '.join(chars)}, found "
                                                    f"{found} at byte ~{self.offset}"))
        self.pos += 1
        return char

    def __iter__(self) -> Iterator[Any]:
        if self._next_char() != "[":
            self._not_a_list()
        self.pos += 1
        closed = self._next_char() == "]"
        if closed:
            self.pos += 1
        while not closed:
            self._next_char()
            yield self._value()
            closed = self._expect(",]") == "]"
        if self._next_char():
            raise _not_json(self.source, ValueError("extra data after the top-level array"))

    def _not_a_list(self) -> None:
        """The precise fatal error for a document that is not an array."""
        try:
            doc = json.loads(self.data)
        except (ValueError, RecursionError) as exc:
            raise _not_json(self.source, exc) from None
        raise CatalogError(f"the catalogue {self.source} is a {type(doc).__name__}, not a list")


def load_catalog(source: str, upstream: Upstream) -> Catalog:
    """Fetch and validate the catalogue named by `source`."""
    return catalog_from(read_source(source, upstream), source, upstream.settings.api_public_key)


def catalog_from(data: bytes, source: str, public_key: str | None) -> Catalog:
    """Validate the bytes fetched from `source`; a `.jws.json` one is verified first (with
    Homebrew's key, or the PEM file `public_key`) and kept whole for the API mirror."""
    if not is_signed(source):
        return parse_catalog(data, source)
    catalog = parse_catalog(verified_payload(data, source, load_public_key(public_key)), source)
    catalog.signed = data
    return catalog


def _name_of(entry: Any) -> object:
    """The entry's `name` field, whatever its type (None when there is none)."""
    if isinstance(entry, EntryRecord):
        return entry.name
    return entry.get("name") if isinstance(entry, dict) else None


def _subject(index: int, entry: Any) -> str:
    """What a failure is about: the formula's name when it is a string, else its position."""
    name = _name_of(entry)
    return name[:200] if isinstance(name, str) and name else f"entry {index}"


def _where(source: str, index: int, entry: Any) -> str:
    """'<source> entry <n> (<name>)': how an error names a catalogue entry."""
    name = _name_of(entry)
    label = f" ({name!r})" if isinstance(name, str) else ""
    return f"{source} entry {index}{label}"


def _formula(entry: dict[str, Any], where: str, plain: bool = False) -> Formula | None:
    """A Formula from a schema-valid entry (`plain`: by plainly_valid); None when it has no
    stable bottles."""
    stable = entry["bottle"].get("stable")
    version = entry["versions"]["stable"]
    if not stable or version is None:
        return None
    if type(entry["revision"]) is not int:  # JSON Schema's "integer" also accepts 1.0
        raise InvalidEntry(f"{where}: revision {entry['revision']!r} is not an integer")
    files = [(tag, info["url"], info["sha256"]) for tag, info in stable["files"].items()]
    return _build(entry["name"], pkgver(version, entry["revision"]), stable["rebuild"],
                  stable["root_url"], files, where,
                  plain=plain, dependencies=tuple(d for d in entry.get("dependencies", ())
                                                  if isinstance(d, str)),
                  deprecated=bool(entry.get("deprecated", False)),
                  disabled=bool(entry.get("disabled", False)))


def _record_formula(record: EntryRecord, where: str) -> Formula | None:
    """A Formula from a typed record (already schema-valid by construction)."""
    stable, version = record.bottle.stable, record.versions.stable
    if isinstance(stable, msgspec.UnsetType) or version is None:
        return None
    files = [(tag, info.url, info.sha256) for tag, info in stable.files.items()]
    return _build(record.name, pkgver(version, record.revision), stable.rebuild,
                  stable.root_url, files, where, plain=True,
                  dependencies=tuple(record.dependencies),
                  deprecated=record.deprecated, disabled=record.disabled)


def _build(name: str, pkg_version: str, rebuild: int, root_url: str,
           files: list[tuple[str, str, str]], where: str, *, plain: bool,
           dependencies: tuple[str, ...], deprecated: bool, disabled: bool) -> Formula | None:
    """Check every bottle of a formula (safe names, the URL under root_url) and assemble it.

    `plain`: every tag and digest already fullmatched its pattern (typed records, the fast
    check); jsonschema's `$` also accepts a trailing newline, so its entries are re-checked.
    """
    prefix = f"{root_url}/{image_name(name)}/blobs/sha256:"
    checked: list[tuple[str, str, str]] = []
    for tag, url, sha256 in files:
        if url == prefix + sha256 and (
                plainly_safe(name, pkg_version, root_url) if plain and not checked
                else checked and (plain or _plain_tag_and_digest(tag, sha256))):
            checked.append((tag, sha256, url))
            continue  # a plainly safe first bottle, or a later one that differs from the
            # checked first only in a well-formed tag and digest
        bottle = Bottle(name, pkg_version, tag, rebuild, sha256, url)
        check_bottle(bottle, f"{where} tag {tag!r}")
        if bottle.root_url != root_url:
            raise InvalidEntry(f"{where} tag {tag!r}: url {url!r} is not under "
                               f"root_url {root_url!r}")
        checked.append((tag, sha256, url))
    return Formula(name=name, pkgver=pkg_version, rebuild=rebuild, files=tuple(checked),
                   dependencies=dependencies, deprecated=deprecated, disabled=disabled)


def _plain_tag_and_digest(tag: str, sha256: str) -> bool:
    """The two fields in which a formula's bottles differ are well-formed."""
    return bool(TAG_RE.fullmatch(tag) and SHA256_RE.fullmatch(sha256))


_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


def plainly_valid(entry: Any) -> bool:
    """A fast check that implies the catalog-entry schema (~50x quicker than jsonschema per entry).

    False means "not sure": the caller asks jsonschema, which also words the error.
    """
    if type(entry) is not dict:
        return False
    name, versions, bottle = entry.get("name"), entry.get("versions"), entry.get("bottle")
    if (type(name) is not str or not NAME_RE.fullmatch(name) or ".." in name
            or type(versions) is not dict or "stable" not in versions
            or type(bottle) is not dict or not _small_int(entry.get("revision"))):
        return False
    stable = versions["stable"]
    if stable is not None and (type(stable) is not str or not VERSION_RE.fullmatch(stable)):
        return False
    deps = entry.get("dependencies", [])
    if type(deps) is not list or any(type(d) is not str for d in deps):
        return False
    if any(type(entry.get(flag, False)) is not bool for flag in ("deprecated", "disabled")):
        return False
    return "stable" not in bottle or _plain_bottles(bottle["stable"])


def _plain_bottles(stable: Any) -> bool:
    """bottle.stable: rebuild, an anchored root_url, and well-formed files."""
    if type(stable) is not dict or not _small_int(stable.get("rebuild")):
        return False
    root_url, files = stable.get("root_url"), stable.get("files")
    if type(root_url) is not str or not ROOT_URL_RE.fullmatch(root_url) or type(files) is not dict:
        return False
    for tag, info in files.items():
        if not TAG_RE.fullmatch(tag) or type(info) is not dict:
            return False
        url, sha, cellar = info.get("url"), info.get("sha256"), info.get("cellar", "")
        if (type(url) is not str or not url.startswith(("https://", "http://"))
                or type(sha) is not str or not SHA256_RE.fullmatch(sha) or type(cellar) is not str):
            return False
    return True


def _small_int(value: Any) -> bool:
    """A JSON integer in the schema's 0..10000 for revision and rebuild (bool is not one)."""
    return type(value) is int and 0 <= value <= MAX_REBUILD
