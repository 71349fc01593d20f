"""The formula catalogue: fetch, parse, validate each entry, keep the good, report the bad."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bottlesync.bottle import (
    MAX_REBUILD,
    NAME_RE,
    SHA256_RE,
    TAG_RE,
    VERSION_RE,
    Bottle,
    check_bottle,
    pkgver,
)
from bottlesync.errors import (
    BottlesyncError,
    CatalogError,
    CatalogUnavailable,
    Failure,
    InvalidEntry,
    TransientUpstreamError,
)
from bottlesync.schemas import first_error, validator
from bottlesync.upstream import Upstream


@dataclass(frozen=True, slots=True)
class Formula:
    """The parts of a catalogue entry a mirror needs."""

    name: str
    pkgver: str
    rebuild: int
    bottles: tuple[Bottle, ...]
    dependencies: tuple[str, ...]
    deprecated: bool
    disabled: bool


@dataclass
class Catalog:
    """Valid formulae by name, plus one InvalidEntry per rejected entry."""

    source: str
    formulae: dict[str, Formula]
    invalid: list[Failure] = field(default_factory=list)


def read_source(source: str, upstream: Upstream) -> bytes:
    """The raw catalogue from an http(s) URL or a local file; CatalogError names the source."""
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
    """Parse and validate; only a non-list or non-JSON document is fatal."""
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deep: RecursionError
        raise CatalogError(f"the catalogue {source} is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise CatalogError(f"the catalogue {source} is a {type(entries).__name__}, not a list")
    catalog = Catalog(source=source, formulae={})
    is_valid = validator("catalog-entry").is_valid
    for index, entry in enumerate(entries):
        try:
            if not (plainly_valid(entry) or is_valid(entry)):
                raise InvalidEntry(f"{_where(source, index, entry)}: "
                                   f"{first_error('catalog-entry', entry)}")
            formula = _formula(entry, _where(source, index, entry))
        except InvalidEntry as exc:
            catalog.invalid.append(Failure.of(_subject(index, entry), exc))
            continue
        if formula is None:
            continue
        if formula.name in catalog.formulae:
            message = f"{_where(source, index, entry)}: duplicate formula name"
            catalog.invalid.append(Failure.of(formula.name, InvalidEntry(message)))
            continue
        catalog.formulae[formula.name] = formula
    return catalog


def load_catalog(source: str, upstream: Upstream) -> Catalog:
    """Fetch and validate the catalogue named by `source`."""
    return parse_catalog(read_source(source, upstream), source)


def _subject(index: int, entry: Any) -> str:
    """What a failure is about: the formula's name when it is a string, else its position."""
    name = entry.get("name") if isinstance(entry, dict) else None
    return name[:200] if isinstance(name, str) and name else f"entry {index}"


def _where(source: str, index: int, entry: Any) -> str:
    """'<source> entry <n> (<name>)': how an error names a catalogue entry."""
    name = entry.get("name") if isinstance(entry, dict) else None
    label = f" ({name!r})" if isinstance(name, str) else ""
    return f"{source} entry {index}{label}"


def _formula(entry: dict[str, Any], where: str) -> Formula | None:
    """A Formula from a schema-valid entry; None when it has no stable bottles."""
    stable = entry["bottle"].get("stable")
    version = entry["versions"]["stable"]
    if not stable or version is None:
        return None
    name = entry["name"]
    if type(entry["revision"]) is not int:  # JSON Schema's "integer" also accepts 1.0
        raise InvalidEntry(f"{where}: revision {entry['revision']!r} is not an integer")
    pkg_version = pkgver(version, entry["revision"])
    rebuild = stable["rebuild"]
    bottles = tuple(
        Bottle(name=name, pkgver=pkg_version, tag=tag, rebuild=rebuild,
               sha256=info["sha256"], url=info["url"])
        for tag, info in stable["files"].items())
    for bottle in bottles:
        check_bottle(bottle, f"{where} tag {bottle.tag!r}")
        if bottle.root_url != stable["root_url"]:
            raise InvalidEntry(f"{where} tag {bottle.tag!r}: url {bottle.url!r} is not under "
                               f"root_url {stable['root_url']!r}")
    return Formula(name=name, pkgver=pkg_version, rebuild=rebuild, bottles=bottles,
                   dependencies=tuple(d for d in entry.get("dependencies", ())
                                      if isinstance(d, str)),
                   deprecated=bool(entry.get("deprecated", False)),
                   disabled=bool(entry.get("disabled", False)))


_ROOT_URL_RE = re.compile(r"https?://[^\s/?#@\\]+(/[^\s?#\\]*)?[^/\s]")  # the schema's, anchored


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
    if type(root_url) is not str or not _ROOT_URL_RE.fullmatch(root_url) or type(files) is not dict:
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
