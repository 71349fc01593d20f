"""api.py: where the API files come from, and when Commit run may publish them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bottlesync.api import api_base, api_paths, held_back, publish_api, stash_prefix
from bottlesync.config import DEFAULT_SOURCE, Settings, load_config
from bottlesync.errors import ConfigError, Failure
from bottlesync.storage import LocalStorage
from tests.contract.conftest import ROOT
from tests.unit.conftest import make_bottle, make_item

RUN_ID = "20261201T030000Z-0a1b2c3d"
ITEMS = [make_item(make_bottle(name=n)) for n in ("wget", "jq")]


def test_the_default_source_is_the_signed_catalogue() -> None:
    """GIVEN no source THEN formula.jws.json, in the code and in config.yaml; the API is on."""
    assert DEFAULT_SOURCE == "https://formulae.brew.sh/api/formula.jws.json"
    settings = load_config(ROOT / "config.yaml").settings()
    assert (settings.source, settings.api, Settings().api) == (DEFAULT_SOURCE, True, True)


@pytest.mark.parametrize(("source", "base"), [
    ("https://formulae.brew.sh/api/formula.jws.json", "https://formulae.brew.sh/api/"),
    ("https://formulae.brew.sh/api/formula.json?x=1", "https://formulae.brew.sh/api/"),
    ("http://127.0.0.1:8/api/formula.json", "http://127.0.0.1:8/api/"),
    ("file:///srv/api/formula.json", "/srv/api/"),
])
def test_the_other_files_come_from_the_catalogues_directory(source: str, base: str) -> None:
    """GIVEN either catalogue THEN the API directory is the one it lives in."""
    assert api_base(source) == base


def test_paths_cover_brew_5_and_6() -> None:
    """The four top-level files, one packages file per tag, one file per formula."""
    assert api_paths(["arm64_sequoia"], ["wget", "openssl@3", "wget"]) == [
        "formula.jws.json", "formula_tap_migrations.jws.json", "cask.jws.json",
        "cask_tap_migrations.jws.json", "internal/packages.arm64_sequoia.jws.json",
        "formula/openssl@3.json", "formula/wget.json"]


def test_only_an_upstream_404_is_excused() -> None:
    """GIVEN a 404 bottle and a 503 bottle THEN only the 503 one holds the API back."""
    wget, jq = ITEMS
    failures = [Failure(wget.bottle.file, "UpstreamError", f"bottle {wget.bottle.file}: "
                        "https://ghcr.io/v2/x: HTTP 404"),
                Failure(jq.bottle.file, "TransientUpstreamError", "x: HTTP 503")]
    assert held_back(ITEMS, set(), failures) == [jq.bottle.file]
    assert held_back(ITEMS, {jq.bottle.file}, failures) == []


def test_publish_copies_the_stash_or_nothing(tmp_path: Path) -> None:
    """GIVEN a stash THEN nothing while a bottle is missing, every file once all landed."""
    storage = LocalStorage(tmp_path)
    files = {"formula.jws.json": b'{"payload": "[]"}', "formula/wget.json": b"{}",
             "internal/packages.arm64_sequoia.jws.json": b"{}"}
    for path, data in files.items():
        storage.put_bytes(stash_prefix(RUN_ID) + path, data)
    held = publish_api(storage, RUN_ID, ITEMS, {ITEMS[0].bottle.file}, [])
    assert held["published"] == 0 and ITEMS[1].bottle.file in str(held["held"])
    assert not (tmp_path / "api").exists()
    done = publish_api(storage, RUN_ID, ITEMS, {i.bottle.file for i in ITEMS}, [])
    assert done == {"published": 3, "held": None}
    assert {p: (tmp_path / "api" / p).read_bytes() for p in files} == files


def test_no_stash_publishes_nothing(tmp_path: Path) -> None:
    """GIVEN api: false (nothing stashed) THEN nothing published and nothing held."""
    assert publish_api(LocalStorage(tmp_path), RUN_ID, ITEMS, set(), []) == {
        "published": 0, "held": None}
    assert json.dumps(publish_api(LocalStorage(tmp_path), RUN_ID, [], set(), []))


def test_api_settings_from_the_environment_and_config(tmp_path: Path) -> None:
    """GIVEN BOTTLESYNC_API / BOTTLESYNC_API_PUBLIC_KEY THEN the Lambdas read them; a bad value
    in config.yaml is a ConfigError naming the key."""
    settings = Settings.from_env({"BOTTLESYNC_API": "false",
                                  "BOTTLESYNC_API_PUBLIC_KEY": "/keys/private-tap.pem"})
    assert (settings.api, settings.api_public_key) == (False, "/keys/private-tap.pem")
    config = tmp_path / "config.yaml"
    config.write_text("sync:\n  api: sometimes\n")
    with pytest.raises(ConfigError, match=r"config.yaml: sync.api: 'sometimes' is not of type"):
        load_config(config)
