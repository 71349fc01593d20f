"""Which bottles are wanted: tags (plus `all`), formulae with their runtime dependencies."""

from __future__ import annotations

from collections.abc import Iterable

from bottlesync.catalog import Catalog, Formula
from bottlesync.errors import ConfigError

ALL_TAG = "all"


def dependency_closure(catalog: Catalog, roots: Iterable[str]) -> list[Formula]:
    """The named formulae and every runtime dependency, transitively (unknown roots: error)."""
    missing = [name for name in roots if name not in catalog.formulae]
    if missing:
        raise ConfigError(f"formula {', '.join(map(repr, missing))} is not in the catalogue "
                          f"{catalog.source}")
    seen: dict[str, Formula] = {}
    stack = list(roots)
    while stack:
        name = stack.pop()
        formula = catalog.formulae.get(name)
        if formula is None or name in seen:
            continue  # a dependency the catalogue lacks cannot be mirrored: nothing to add
        seen[name] = formula
        stack.extend(formula.dependencies)
    return list(seen.values())


def tag_problem(catalog: Catalog, tags: Iterable[str]) -> str | None:
    """Why some wanted tag has no bottle in the catalogue (a typo or a retired platform)."""
    known = {tag for f in catalog.formulae.values() for tag, _sha256, _url in f.files}
    unknown = sorted(set(tags) - known)
    if not unknown:
        return None
    return (f"tag {', '.join(map(repr, unknown))} is not in the catalogue {catalog.source}; "
            f"it has: {', '.join(sorted(known)) or 'no bottles'}")


def check_tags(catalog: Catalog, tags: Iterable[str]) -> None:
    """A tag asked for by name that no formula has bottles for: ConfigError lists the
    catalogue's tags (mirroring only `all` bottles and exiting 0 would hide it)."""
    problem = tag_problem(catalog, tags)
    if problem is not None:
        raise ConfigError(problem)


def unbottled(catalog: Catalog, formulae: Iterable[str], tags: Iterable[str]) -> list[str]:
    """A note for each named formula that has no bottle for a wanted tag (nor an `all` one)."""
    notes: list[str] = []
    for name in formulae:
        has = set(catalog.formulae[name].tags)
        notes.extend(f"{name} has no bottle for {tag}" for tag in tags
                     if tag not in has and ALL_TAG not in has)
    return notes


def choose(catalog: Catalog, *, tags: Iterable[str], formulae: Iterable[str] = (),
           skip_deprecated: bool = False, skip_disabled: bool = False,
           strict_tags: bool = True) -> tuple[list[Formula], set[str]]:
    """The wanted formulae in catalogue order and the wanted tags (`all` whenever any tag is):
    the plan walks their files without building a Bottle for each one already present.

    `strict_tags`: a tag the catalogue lacks is an error (named on the command line) rather
    than a note (configured: a platform Homebrew retired must not stop every scheduled sync).
    """
    tags = list(tags)
    if strict_tags:
        check_tags(catalog, tags)
    roots = list(formulae)
    chosen = dependency_closure(catalog, roots) if roots else catalog.formulae.values()
    names = {f.name for f in chosen}
    return ([formula for formula in catalog.formulae.values()
             if formula.name in names
             and not (skip_deprecated and formula.deprecated)
             and not (skip_disabled and formula.disabled)], {*tags, ALL_TAG})
