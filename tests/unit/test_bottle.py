"""Bottle identity: brew's file names, image names, layout keys, checks on untrusted input."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bottlesync.bottle import (
    BREW_FILE_RE,
    LAYOUTS,
    Bottle,
    PlanItem,
    check_bottle,
    day_of,
    file_name,
    file_prefix,
    image_name,
    index_key,
    is_layout_key,
    key_for,
    name_problem,
    pkgver,
    plainly_safe,
)
from bottlesync.errors import InvalidEntry, InvalidInput
from tests.unit.conftest import ROOT, make_bottle, make_item, sha


@pytest.mark.parametrize(
    ("name", "version", "revision", "tag", "rebuild", "expected"),
    [
        ("wget", "1.25.0", 1, "arm64_sequoia", 1, "wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz"),
        ("wget", "1.25.0", 0, "arm64_sequoia", 0, "wget-1.25.0.arm64_sequoia.bottle.tar.gz"),
        ("openssl@3", "3.4.0", 0, "x86_64_linux", 0, "openssl@3-3.4.0.x86_64_linux.bottle.tar.gz"),
        ("libxml++", "5.4.0", 0, "all", 2, "libxml++-5.4.0.all.bottle.2.tar.gz"),
    ],
)
def test_file_name_is_what_brew_computes(
    name: str, version: str, revision: int, tag: str, rebuild: int, expected: str
) -> None:
    """GIVEN revision/rebuild THEN `_rev` only if >0, `.rebuild` only if >0, `@` kept."""
    assert file_name(name, pkgver(version, revision), tag, rebuild) == expected


def test_file_names_parse_back_with_brews_regex() -> None:
    """GIVEN our file names WHEN brew's regex reads them THEN it recovers the tag and rebuild."""
    with_rebuild = BREW_FILE_RE.search(make_bottle(rebuild=3).file)
    without = BREW_FILE_RE.search(make_bottle(name="openssl@3", tag="sonoma", rebuild=0).file)
    assert with_rebuild is not None and with_rebuild.groups() == ("arm64_sequoia", "3")
    assert without is not None and without.groups() == ("sonoma", None)


@pytest.mark.parametrize(
    ("name", "image"),
    [("openssl@3", "openssl/3"), ("libxml++", "libxmlxx"), ("wget", "wget"),
     ("python@3.13", "python/3.13")],
)
def test_image_name_maps_at_and_plus(name: str, image: str) -> None:
    """GIVEN a formula name THEN its ghcr.io image is `@`→`/` and `+`→`x`."""
    assert image_name(name) == image
    assert make_bottle(name=name).image == image


def test_bottle_derived_parts() -> None:
    """GIVEN a catalogue bottle THEN root_url, blob_path and version_rebuild follow DESIGN §3."""
    bottle = make_bottle(name="openssl@3", pkgver="3.4.0", rebuild=2)
    assert bottle.root_url == ROOT
    assert bottle.blob_path == f"/openssl/3/blobs/sha256:{bottle.sha256}"
    assert bottle.version_rebuild == "3.4.0-2"
    assert replace(bottle, rebuild=0).version_rebuild == "3.4.0"


def test_keys_per_layout() -> None:
    """GIVEN each layout THEN the key is the one of DESIGN §4."""
    bottle = make_bottle(name="openssl@3", pkgver="3.4.0", rebuild=0)
    assert key_for(bottle, "bottle-domain", "2026-11-28") == f"bottles/{bottle.file}"
    assert (key_for(bottle, "artifact-domain", "2026-11-28")
            == f"v2/homebrew/core/openssl/3/blobs/sha256:{bottle.sha256}")
    assert key_for(bottle, "dated", "2026-11-28") == f"2026-11-28/{bottle.file}"
    with pytest.raises(InvalidInput, match="'flat' is not one of"):
        key_for(bottle, "flat", "2026-11-28")


def test_is_layout_key_accepts_only_this_bottles_keys() -> None:
    """GIVEN a bottle THEN its keys under every layout qualify and nothing else does."""
    bottle = make_bottle()
    assert all(is_layout_key(bottle, key_for(bottle, layout, "2026-01-02")) for layout in LAYOUTS)
    other = make_bottle(name="jq")
    assert not is_layout_key(bottle, key_for(other, "bottle-domain", ""))
    assert not is_layout_key(bottle, f"../{bottle.file}")
    assert not is_layout_key(bottle, f"yesterday/{bottle.file}")
    assert not is_layout_key(bottle, None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"name": "a..b"}, "name"),
        ({"name": "x@"}, "name"),
        ({"name": "-lead"}, "name"),
        ({"pkgver": "1.0/../2"}, "version"),
        ({"tag": "Arm64"}, "tag"),
        ({"rebuild": -1}, "rebuild"),
        ({"rebuild": 10_001}, "rebuild"),
        ({"sha256": "ABC"}, "sha256"),
        ({"sha256": sha("x").upper()}, "sha256"),
        ({"url": f"{ROOT}/wget/blobs/sha256:{sha('other')}"}, "url"),
        ({"url": "ftp://ghcr.io/v2/x"}, "url"),
    ],
)
def test_check_bottle_rejects_each_bad_field(change: dict[str, Any], field: str) -> None:
    """GIVEN one bad field WHEN checked THEN InvalidEntry names `where` and that field."""
    bottle = replace(make_bottle(), **change)
    with pytest.raises(InvalidEntry, match=rf"^catalogue entry 7: {field} "):
        check_bottle(bottle, "catalogue entry 7")


@pytest.mark.parametrize("suffix", ["?x=1", "#frag", " ", "\\"])
def test_check_bottle_rejects_url_decorations(suffix: str) -> None:
    """GIVEN a url with a query, fragment, blank or backslash THEN it is not the bottle form."""
    good = make_bottle()
    bad = replace(good, url=good.url.replace("/wget/", f"/wget{suffix}/wget/"))
    with pytest.raises(InvalidEntry, match="url"):
        check_bottle(bad, "here")


def test_check_bottle_accepts_valid_bottles() -> None:
    """GIVEN well-formed bottles (`@`, `+`, rebuild 0) THEN check_bottle is silent."""
    for bottle in (make_bottle(), make_bottle(name="openssl@3", rebuild=0),
                   make_bottle(name="libxml++", tag="all")):
        check_bottle(bottle, "here")


def test_name_problem() -> None:
    """GIVEN names THEN only safe ones pass, and non-strings are reported, not crashed on."""
    assert name_problem("openssl@3") is None
    assert name_problem(3) is not None
    assert "'..'" in str(name_problem("a..b"))


def test_plan_item_round_trip() -> None:
    """GIVEN a plan item WHEN serialised and parsed THEN it is equal, with DESIGN §7 fields."""
    item = make_item(size=1532931)
    data = item.to_dict()
    assert set(data) == {"name", "pkgver", "tag", "rebuild", "sha256", "url", "size", "key",
                         "file"}
    assert data["file"] == "wget-1.25.0_1.arm64_sequoia.bottle.1.tar.gz"
    assert PlanItem.from_dict(data, "plan[0]") == item
    unknown_size = make_item(size=None, layout="dated")
    assert PlanItem.from_dict(unknown_size.to_dict(), "plan[1]") == unknown_size


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"key": "../x"}, "key '../x'"),
        ({"key": make_item(make_bottle(name="jq")).key}, "is not a layout key"),
        ({"key": "bottles/../../etc/passwd"}, "is not a layout key"),
        ({"file": "jq-1.7.1.arm64_sequoia.bottle.tar.gz"}, "file 'jq-"),
        ({"name": "../evil"}, "name '../evil'"),
        ({"sha256": "0" * 63}, "sha256"),
        ({"url": "https://evil.example/x"}, "url"),
        ({"rebuild": "1"}, "rebuild '1' is not an integer"),
        ({"rebuild": True}, "rebuild True is not an integer"),
        ({"size": -5}, "size -5"),
        ({"size": "12"}, "size '12'"),
        ({"size": True}, "size True"),
        ({"pkgver": 1}, "pkgver"),
        ({"tag": None}, "tag"),
        ({"sha256": 12}, "sha256"),
        ({"url": ["x"]}, "url"),
        ({"name": None}, "name"),
        ({"key": 5}, "key"),
    ],
)
def test_plan_item_from_dict_rejects_tampering(change: dict[str, Any], needle: str) -> None:
    """GIVEN a tampered or mistyped item THEN InvalidInput names `where` and the field."""
    data = {**make_item().to_dict(), **change}
    with pytest.raises(InvalidInput) as caught:
        PlanItem.from_dict(data, "plan.json[3]")
    assert str(caught.value).startswith("plan.json[3]: ")
    assert needle in str(caught.value)


@pytest.mark.parametrize("missing", ["name", "pkgver", "tag", "rebuild", "sha256", "url", "key"])
def test_plan_item_from_dict_names_missing_keys(missing: str) -> None:
    """GIVEN an item without a required key THEN InvalidInput names it."""
    data = make_item().to_dict()
    del data[missing]
    with pytest.raises(InvalidInput, match=rf"plan\[0\]: plan item lacks key '{missing}'"):
        PlanItem.from_dict(data, "plan[0]")


@pytest.mark.parametrize("data", [[], "x", None, 3])
def test_plan_item_from_dict_rejects_non_objects(data: object) -> None:
    """GIVEN JSON that is not an object THEN InvalidInput says so."""
    with pytest.raises(InvalidInput, match="must be an object"):
        PlanItem.from_dict(data, "plan[0]")


def test_plan_item_without_file_field_is_accepted() -> None:
    """GIVEN an item without the derived `file` field THEN it is computed, not required."""
    data = make_item().to_dict()
    del data["file"]
    assert PlanItem.from_dict(data, "p").bottle.file == make_item().bottle.file



@pytest.mark.parametrize(("layout", "key"), [
    ("bottle-domain", "bottles/openssl/3/manifests/3.4.0_1-2"),
    ("artifact-domain", "v2/homebrew/core/openssl/3/manifests/3.4.0_1-2"),
    ("dated", "2026-11-28/openssl/3/manifests/3.4.0_1-2"),
])
def test_index_key_is_where_brew_asks_for_the_oci_index(layout: str, key: str) -> None:
    """GIVEN a layout THEN the index sits at <domain>/<image>/manifests/<version_rebuild>."""
    bottle = Bottle("openssl@3", "3.4.0_1", "arm64_sequoia", 2, "a" * 64,
                    f"https://ghcr.io/v2/homebrew/core/openssl/3/blobs/sha256:{'a' * 64}")
    assert index_key(bottle, layout, "2026-11-28") == key
    assert day_of(key) == ("2026-11-28" if layout == "dated" else "")


def test_index_key_refuses_an_unknown_layout() -> None:
    """GIVEN a layout we do not know THEN InvalidInput, never a guess."""
    bottle = Bottle("jq", "1.7", "sonoma", 0, "b" * 64,
                    f"https://ghcr.io/v2/homebrew/core/jq/blobs/sha256:{'b' * 64}")
    with pytest.raises(InvalidInput, match="layout"):
        index_key(bottle, "flat", "")


@pytest.mark.parametrize(("name", "pkg_version", "root"), [
    ("wget", "1.25.0_1", ROOT), ("openssl@3", "3.4.0", ROOT), ("libxml++", "5.4", ROOT),
    ("x@", "1.0", ROOT), ("a@.b", "1.0", ROOT), ("a@.", "1.0", ROOT),  # image segments
    ("wget", "1" * 64, ROOT), ("wget", "1" * 63 + "_1", ROOT),  # pkgver over 64 characters
    ("wget", "1.0", "https://ghcr.io/v2/a?b"), ("wget", "1.0", "https://ghcr.io/v2/a#b"),
    ("wget", "1.0", "https://ghcr.io/v2 /a"), ("wget", "1.0", "ftp://ghcr.io/v2"),
    ("wget", "1.0", "https:///v2"), ("wget", "1.0", "https://user@ghcr.io/v2"),
    ("wget", "1.0", "https://xn--ghr-9na.io/v2"), ("wget", "1.0", "https://0x7f.1/v2"),
    ("wget", "1.0", "http://ghcr.io:99999/v2"), ("wget", "1.0", "https://ghcr.io\\v2"),
])
def test_plainly_safe_says_what_check_bottle_says(name: str, pkg_version: str, root: str
                                                  ) -> None:
    """GIVEN a bottle whose name, version, tag and digest pass their patterns and whose URL is
    the root plus its blob path THEN plainly_safe accepts it exactly when check_bottle does
    (the catalogue accepts plainly safe first bottles without asking check_bottle)."""
    bottle = make_bottle(name=name, pkgver=pkg_version, root=root)
    try:
        check_bottle(bottle, "here")
    except InvalidEntry:
        accepted = False
    else:
        accepted = True
    assert plainly_safe(name, pkg_version, root) is accepted


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_layouts_file_prefix_makes_its_key_or_is_none(layout: str) -> None:
    """GIVEN any layout THEN file_prefix + file is the key it gives, for bottles whose name,
    digest and day differ; None exactly where no one prefix does that."""
    bottles = [make_bottle(), make_bottle(name="openssl@3", pkgver="3.4.0", tag="all")]
    keys = [(b, key_for(b, layout, day)) for b in bottles for day in ("2026-01-02", "2026-11-30")]
    prefixes = {key.removesuffix(b.file) if key.endswith(b.file) else None for b, key in keys}
    expected = prefixes.pop() if len(prefixes) == 1 else None
    assert file_prefix(layout) == expected
