"""api.py: where the API files come from, and when Commit run may publish them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bottlesync.api import api_base, api_paths, held_back, publish_api, stash_prefix
from bottlesync.config import DEFAULT_SOURCE, Settings, load_config
from bottlesync.errors import ConfigError, Failure
from bottlesync.storage import LocalStorage, S3Storage
from tests.contract.conftest import ROOT
from tests.unit.conftest import BUCKET, make_bottle, make_item

RUN_ID = "20261201T030000Z-0a1b2c3d"
NEXT_RUN = "20261202T030000Z-1b2c3d4e"
FILES = {"formula.jws.json": b'{"payload": "[]"}', "formula/wget.json": b"{}",
         "internal/packages.arm64_sequoia.jws.json": b"{}"}
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
    files = FILES
    stash(storage, RUN_ID, files)
    held = publish_api(storage, RUN_ID, ITEMS, {ITEMS[0].bottle.file}, [])
    assert held["published"] == 0 and ITEMS[1].bottle.file in str(held["held"])
    assert not (tmp_path / "api").exists()
    done = publish_api(storage, RUN_ID, ITEMS, {i.bottle.file for i in ITEMS}, [])
    assert done == {"published": 3, "held": None}
    assert {p: (tmp_path / "api" / p).read_bytes() for p in files} == files


class Recording(LocalStorage):
    """A LocalStorage that remembers every key written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.written: list[str] = []

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.written.append(key)
        super().put_bytes(key, data, content_type)


def stash(storage: LocalStorage | S3Storage, run_id: str, files: dict[str, bytes]) -> None:
    """What Plan sync leaves for Commit run."""
    for path, data in files.items():
        storage.put_bytes(stash_prefix(run_id) + path, data)


def test_publish_writes_only_changed_files_and_drops_the_stash(tmp_path: Path) -> None:
    """GIVEN a published API and a next run where one file changed THEN only that file is
    written, every run's stash is deleted once published, and a replay publishes nothing."""
    storage = Recording(tmp_path)
    everyone = {i.bottle.file for i in ITEMS}
    stash(storage, RUN_ID, FILES)
    assert publish_api(storage, RUN_ID, ITEMS, everyone, []) == {"published": 3, "held": None}
    assert list(storage.list(stash_prefix(RUN_ID))) == []
    stash(storage, NEXT_RUN, {**FILES, "formula/wget.json": b'{"name": "wget"}'})
    storage.written.clear()
    assert publish_api(storage, NEXT_RUN, ITEMS, everyone, []) == {"published": 1, "held": None}
    assert storage.written == ["api/formula/wget.json"]
    assert (tmp_path / "api/formula/wget.json").read_bytes() == b'{"name": "wget"}'
    assert list(storage.list("runs/")) == []
    storage.written.clear()
    assert publish_api(storage, NEXT_RUN, ITEMS, everyone, []) == {"published": 0, "held": None}
    assert storage.written == []


def test_a_held_run_keeps_its_stash_for_a_replay(tmp_path: Path) -> None:
    """GIVEN a run held back THEN its stash stays, so replaying Commit run holds it again."""
    storage = LocalStorage(tmp_path)
    stash(storage, RUN_ID, FILES)
    first = publish_api(storage, RUN_ID, ITEMS, {ITEMS[0].bottle.file}, [])
    assert first["held"] is not None
    assert len(list(storage.list(stash_prefix(RUN_ID)))) == len(FILES)
    assert publish_api(storage, RUN_ID, ITEMS, {ITEMS[0].bottle.file}, []) == first
    assert not (tmp_path / "api").exists()


def test_an_unchanged_api_adds_no_version_in_a_versioned_bucket(s3: Any) -> None:
    """GIVEN a versioned bucket and two runs with the same API THEN each public file has one
    version only and no run's stash remains."""
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    storage = S3Storage(BUCKET, "", client=s3)
    everyone = {i.bottle.file for i in ITEMS}
    for run_id in (RUN_ID, NEXT_RUN):
        stash(storage, run_id, FILES)
        publish_api(storage, run_id, ITEMS, everyone, [])
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="api/")["Versions"]
    assert sorted(v["Key"] for v in versions) == sorted(f"api/{p}" for p in FILES)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")["KeyCount"] == 0


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
