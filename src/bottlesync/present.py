"""The plan's diff: which wanted bottles the destination already holds, by name and digest.

A re-sync finds almost everything present. Comparing each wanted file's name and digest with
the manifest straight from the formula's checked (tag, sha256, url) triples, and building a
Bottle only for what is missing, keeps a no-op from allocating one object per bottle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bottlesync.bottle import (
    Bottle,
    file_name_around_tag,
    file_prefix,
    image_name,
    key_in_layout,
)
from bottlesync.catalog import Formula
from bottlesync.decode import ManifestEntryRecord


@dataclass
class Diff:
    """Wanted bottles counted, the formulae they belong to, and the missing ones in order."""

    selected: int = 0
    names: list[str] = field(default_factory=list)
    missing: list[Bottle] = field(default_factory=list)


def diff(formulae: Iterable[Formula], wanted_tags: set[str],
         present: Mapping[str, ManifestEntryRecord], layout: str) -> Diff:
    """Every wanted bottle of `formulae` (catalogue order) not listed with the same sha256
    under this layout's key (any day for `dated`): a bottle kept under another layout's key is
    not served by this one, so it is missing here (and copied across)."""
    result = Diff()
    missing, names, selected = result.missing, result.names, 0
    prefix = file_prefix(layout)
    for formula in formulae:
        name, version, rebuild = formula.name, formula.pkgver, formula.rebuild
        image = image_name(name)
        head, tail = file_name_around_tag(name, version, rebuild)
        before = selected
        for tag, sha256, url in formula.files:
            if tag not in wanted_tags:
                continue
            selected += 1
            file = f"{head}{tag}{tail}"
            entry = present.get(file)
            if entry is None or entry.sha256 != sha256 or (
                    entry.key != prefix + file if prefix is not None
                    else not key_in_layout(file, image, sha256, entry.key, layout)):
                missing.append(Bottle(name, version, tag, rebuild, sha256, url))
        if selected > before:
            names.append(name)
    result.selected = selected
    return result
