"""The plan's diff: wanted bottles minus those listed with the same digest under this layout."""

from __future__ import annotations

import pytest

from bottlesync.bottle import Bottle, key_for
from bottlesync.catalog import Formula
from bottlesync.decode import ManifestEntryRecord
from bottlesync.present import diff
from tests.unit.conftest import make_bottle

TAGS = ("arm64_sequoia", "x86_64_linux", "all")


def formula(name: str, *tags: str) -> Formula:
    """A formula with one bottle per tag (rebuild 1, so the file name carries it)."""
    bottles = [make_bottle(name=name, pkgver="2.0_1", tag=tag) for tag in tags]
    return Formula(name=name, pkgver="2.0_1", rebuild=1,
                   files=tuple((b.tag, b.sha256, b.url) for b in bottles), dependencies=(),
                   deprecated=False, disabled=False)


def listed(bottles: list[Bottle], layout: str, day: str = "2026-11-30"
           ) -> dict[str, ManifestEntryRecord]:
    """A manifest holding `bottles` under `layout`'s keys."""
    return {b.file: ManifestEntryRecord(b.sha256, key_for(b, layout, day), 1) for b in bottles}


FORMULAE = [formula("wget", *TAGS[:2]), formula("openssl@3", *TAGS[:2]),
            formula("ca-certificates", "all"), formula("linux-only", "x86_64_linux")]
WANTED = {"arm64_sequoia", "all"}


def test_nothing_present_means_every_wanted_bottle_is_missing_in_catalogue_order() -> None:
    result = diff(FORMULAE, WANTED, {}, "bottle-domain")
    assert [(b.name, b.tag) for b in result.missing] == [
        ("wget", "arm64_sequoia"), ("openssl@3", "arm64_sequoia"), ("ca-certificates", "all")]
    assert result.selected == 3
    assert result.names == ["wget", "openssl@3", "ca-certificates"]  # not linux-only


def test_the_missing_bottles_are_the_catalogues_own() -> None:
    """The Bottle built for a missing file carries the catalogue's digest and URL."""
    [missing] = diff([FORMULAE[0]], {"x86_64_linux"}, {}, "bottle-domain").missing
    assert missing == next(b for b in FORMULAE[0].bottles if b.tag == "x86_64_linux")


@pytest.mark.parametrize("layout", ["bottle-domain", "artifact-domain", "dated"])
def test_everything_listed_under_this_layout_is_present(layout: str) -> None:
    everything = [b for f in FORMULAE for b in f.bottles]
    result = diff(FORMULAE, WANTED, listed(everything, layout), layout)
    assert (result.selected, result.missing) == (3, [])
    assert result.names == ["wget", "openssl@3", "ca-certificates"]


@pytest.mark.parametrize(("held", "wanted"), [("bottle-domain", "artifact-domain"),
                                              ("artifact-domain", "dated"),
                                              ("dated", "bottle-domain")])
def test_a_bottle_kept_under_another_layouts_key_is_missing_here(held: str, wanted: str) -> None:
    everything = [b for f in FORMULAE for b in f.bottles]
    result = diff(FORMULAE, WANTED, listed(everything, held), wanted)
    assert len(result.missing) == result.selected == 3


def test_a_changed_digest_or_a_foreign_key_makes_a_bottle_missing() -> None:
    """GIVEN wget listed with an old digest and openssl@3 under a key that is not its own
    THEN both are missing; ca-certificates, listed right, is present."""
    present = listed([b for f in FORMULAE for b in f.bottles], "bottle-domain")
    wget = FORMULAE[0].bottles[0]
    present[wget.file] = ManifestEntryRecord("0" * 64, key_for(wget, "bottle-domain", ""))
    openssl = FORMULAE[1].bottles[0]
    present[openssl.file] = ManifestEntryRecord(openssl.sha256, "bottles_hash.json")
    result = diff(FORMULAE, WANTED, present, "bottle-domain")
    assert [b.name for b in result.missing] == ["wget", "openssl@3"]


def test_a_dated_key_counts_for_any_well_formed_day_only() -> None:
    bottle = FORMULAE[2].bottles[0]
    for day, present in (("2025-01-02", True), ("2025-1-2", False), ("latest", False)):
        entry = {bottle.file: ManifestEntryRecord(bottle.sha256, f"{day}/{bottle.file}")}
        assert (diff([FORMULAE[2]], WANTED, entry, "dated").missing == []) is present
