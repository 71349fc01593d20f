"""Each --layout puts the same verified bytes under the keys DESIGN §4 promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from bottlesync.upstream import OCI_INDEX
from tests.conftest import SMALL_CATALOGUE, TEST_TAGS
from tests.fakes.homebrew import FakeHomebrew

WANTED = [(f.name, tag) for f in SMALL_CATALOGUE for tag in f.tags if tag in {*TEST_TAGS, "all"}]


def expected_key(fake: FakeHomebrew, layout: str, name: str, tag: str, run_id: str) -> str:
    """DESIGN §4's key for one bottle (the dated layout uses the run's day)."""
    if layout == "bottle-domain":
        return f"bottles/{fake.file_name(name, tag)}"
    if layout == "artifact-domain":
        return f"v2/homebrew/core/{fake.formula(name).image}/blobs/sha256:{fake.sha256(name, tag)}"
    return f"{run_id[0:4]}-{run_id[4:6]}-{run_id[6:8]}/{fake.file_name(name, tag)}"


def expected_index_key(fake: FakeHomebrew, layout: str, name: str, run_id: str) -> str:
    """Where the layout serves the formula version's OCI index (what brew asks for first)."""
    formula = fake.formula(name)
    path = f"{formula.image}/manifests/{formula.version_rebuild}"
    prefix = {"bottle-domain": "bottles", "artifact-domain": "v2/homebrew/core",
              "dated": f"{run_id[0:4]}-{run_id[4:6]}-{run_id[6:8]}"}[layout]
    return f"{prefix}/{path}"


def registry_index(fake: FakeHomebrew, name: str) -> bytes:
    """The index exactly as the registry serves it."""
    formula = fake.formula(name)
    response = requests.get(f"{fake.root_url}/{formula.image}/manifests/{formula.version_rebuild}",
                            headers={"Authorization": "Bearer QQ==", "Accept": OCI_INDEX},
                            timeout=5)
    response.raise_for_status()
    return response.content


@pytest.mark.parametrize("layout", ["bottle-domain", "artifact-domain", "dated"])
def test_layout_stores_each_bottle_under_its_key(
    cli, homebrew: FakeHomebrew, tmp_path: Path, layout: str
) -> None:
    """GIVEN --layout L WHEN sync runs THEN every bottle is at L's key, byte for byte."""
    result = cli("sync", "--layout", layout, "--json")
    assert result.code == 0, result.err
    run_id = result.json["run_id"]
    mirror = tmp_path / "mirror"
    bottles = json.loads((mirror / "bottles_hash.json").read_text())["bottles"]
    keys = set()
    for name, tag in WANTED:
        key = expected_key(homebrew, layout, name, tag, run_id)
        keys.add(key)
        assert (mirror / key).read_bytes() == homebrew.blob(name, tag)
        assert bottles[homebrew.file_name(name, tag)]["key"] == key
    indexes = set()
    for name in {name for name, _tag in WANTED}:
        key = expected_index_key(homebrew, layout, name, run_id)
        indexes.add(key)
        assert (mirror / key).read_bytes() == registry_index(homebrew, name)
    stored = {p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()}
    assert {k for k in stored if not k.startswith(("runs/", ".bottlesync/"))} == keys | indexes | {
        "bottles_hash.json", "status.json", "index.html"}


def test_an_index_is_published_only_with_all_its_bottles(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN one of wget's bottles always corrupt WHEN synced THEN wget's OCI index is not
    served (brew would be sent to a missing bottle), jq's is; a clean re-run publishes wget's."""
    homebrew.fault("wrong_bytes", match=homebrew.sha256("wget", "x86_64_linux"), times=-1)
    first = cli("sync", "--json")
    assert first.code == 1 and [f["error"] for f in first.json["failures"]] == ["DigestMismatch"]
    mirror = tmp_path / "mirror"
    wget = mirror / expected_index_key(homebrew, "bottle-domain", "wget", first.json["run_id"])
    jq = mirror / expected_index_key(homebrew, "bottle-domain", "jq", first.json["run_id"])
    assert not wget.exists() and jq.read_bytes() == registry_index(homebrew, "jq")
    homebrew.clear_faults()
    assert cli("sync").code == 0
    assert wget.read_bytes() == registry_index(homebrew, "wget")


def test_bottle_domain_keeps_a_literal_at_sign(cli, homebrew: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN openssl@3 THEN its bottle file name keeps `@` (clients send %40, servers decode)."""
    assert cli("sync", "--formula", "openssl@3").code == 0
    names = {p.name for p in (tmp_path / "mirror" / "bottles").iterdir()}
    assert "openssl@3-3.4.0.arm64_sequoia.bottle.tar.gz" in names
    assert not any("%40" in n for n in names)


def test_artifact_domain_maps_at_and_plus_in_image_paths(
    cli, homebrew: FakeHomebrew, tmp_path: Path
) -> None:
    """GIVEN openssl@3 and libxml++ THEN their images are openssl/3 and libxmlxx."""
    assert cli("sync", "--layout", "artifact-domain").code == 0
    core = tmp_path / "mirror" / "v2" / "homebrew" / "core"
    assert (core / "openssl" / "3" / "blobs").is_dir()
    assert (core / "libxmlxx" / "blobs").is_dir()
