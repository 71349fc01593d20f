"""Selection: the wanted tags plus `all`, and formulae with their runtime-dependency closure."""

from __future__ import annotations

import pytest

from bottlesync.bottle import Bottle
from bottlesync.catalog import Catalog, Formula
from bottlesync.errors import ConfigError
from bottlesync.selection import dependency_closure, unbottled
from tests.unit.conftest import make_bottle, select

TAGS = ("arm64_sequoia", "x86_64_linux", "sonoma", "all")


def formula(name: str, *deps: str, tags: tuple[str, ...] = TAGS[:3], deprecated: bool = False,
            disabled: bool = False) -> Formula:
    """A formula with one bottle per tag."""
    bottles = tuple(make_bottle(name=name, pkgver="1.0", tag=tag, rebuild=0) for tag in tags)
    files = tuple((b.tag, b.sha256, b.url) for b in bottles)
    return Formula(name=name, pkgver="1.0", rebuild=0, files=files, dependencies=deps,
                   deprecated=deprecated, disabled=disabled)


def catalog(*formulae: Formula) -> Catalog:
    """A catalogue of `formulae` in order."""
    return Catalog(source="test-catalogue", formulae={f.name: f for f in formulae})


def names(bottles: list[Bottle]) -> list[tuple[str, str]]:
    """(name, tag) of each selected bottle, in order."""
    return [(b.name, b.tag) for b in bottles]


CATALOG = catalog(
    formula("wget", "openssl@3", "libidn2"),
    formula("openssl@3", "ca-certificates"),
    formula("ca-certificates", tags=("all",)),
    formula("libidn2", "libunistring"),
    formula("libunistring"),
    formula("jq", "oniguruma"),
    formula("oniguruma"),
)


def test_tags_select_and_all_always_comes_along() -> None:
    """GIVEN one tag THEN every formula's bottle for it plus every `all` bottle, catalogue order."""
    selected = select(CATALOG, tags=["x86_64_linux"])
    assert names(selected) == [
        ("wget", "x86_64_linux"), ("openssl@3", "x86_64_linux"), ("ca-certificates", "all"),
        ("libidn2", "x86_64_linux"), ("libunistring", "x86_64_linux"), ("jq", "x86_64_linux"),
        ("oniguruma", "x86_64_linux")]


def test_a_tag_the_catalogue_lacks_is_an_error_listing_its_tags() -> None:
    """GIVEN a well-formed tag no formula has THEN ConfigError naming it and the known tags
    (not a quiet run that mirrors only `all` bottles)."""
    with pytest.raises(ConfigError, match=r"tag 'arm64_bogus' is not in the catalogue "
                       r"test-catalogue; it has: all, arm64_sequoia, sonoma, x86_64_linux$"):
        select(CATALOG, tags=["sonoma", "arm64_bogus"])


def test_a_named_formula_without_a_bottle_for_a_tag_gets_a_note() -> None:
    """GIVEN --formula for one formula lacking a tag (and one with only `all`) THEN a note for
    the first alone."""
    cat = catalog(formula("mac-only", tags=("sonoma",)), formula("linux", tags=("x86_64_linux",)),
                  formula("ca-certificates", tags=("all",)))
    assert unbottled(cat, ["mac-only", "ca-certificates"], ["sonoma", "x86_64_linux"]) == [
        "mac-only has no bottle for x86_64_linux"]


def test_formulae_bring_their_transitive_dependencies() -> None:
    """GIVEN --formula wget THEN wget, openssl@3, ca-certificates, libidn2, libunistring; no jq."""
    selected = {b.name for b in select(CATALOG, tags=["sonoma"], formulae=["wget"])}
    assert selected == {"wget", "openssl@3", "ca-certificates", "libidn2", "libunistring"}


def test_closure_survives_cycles_and_missing_dependencies() -> None:
    """GIVEN a dependency cycle and a dependency not in the catalogue THEN no loop, no error."""
    cyclic = catalog(formula("a", "b"), formula("b", "c", "ghost"), formula("c", "a"),
                     formula("d"))
    assert sorted(f.name for f in dependency_closure(cyclic, ["a"])) == ["a", "b", "c"]
    assert {b.name for b in select(cyclic, tags=["sonoma"], formulae=["c"])} == {"a", "b", "c"}


def test_unknown_root_is_a_config_error() -> None:
    """GIVEN --formula nope THEN ConfigError names it and the catalogue."""
    with pytest.raises(ConfigError, match="formula 'nope', 'zilch' is not in the catalogue "
                                          "test-catalogue"):
        select(CATALOG, tags=["sonoma"], formulae=["wget", "nope", "zilch"])


def test_skip_flags_apply_only_when_configured() -> None:
    """GIVEN deprecated and disabled formulae THEN they are kept unless the matching skip is on."""
    cat = catalog(formula("old", deprecated=True), formula("off", disabled=True), formula("ok"))
    every = {b.name for b in select(cat, tags=["sonoma"])}
    assert every == {"old", "off", "ok"}
    assert {b.name for b in select(cat, tags=["sonoma"], skip_deprecated=True)} == {"off", "ok"}
    assert {b.name for b in select(cat, tags=["sonoma"], skip_disabled=True)} == {"old", "ok"}
    both = select(cat, tags=["sonoma"], skip_deprecated=True, skip_disabled=True)
    assert {b.name for b in both} == {"ok"}
