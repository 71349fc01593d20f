"""Every bottlesync module is placed in the import-linter contracts, so a new one is checked."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "bottlesync"
STORAGE_MODULES = {"bottlesync.storage", "bottlesync.stored", "bottlesync.local_storage",
                   "bottlesync.s3_storage"}


def contracts() -> list[dict[str, Any]]:
    """The import-linter contracts from pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def layering() -> dict[str, Any]:
    """The stages-never-import-the-edges contract."""
    return next(c for c in contracts() if c["name"].startswith("The stages never import"))


def modules() -> set[str]:
    """Every module of src/bottlesync except the package and its entry-point shim."""
    return {f"bottlesync.{path.stem}" for path in PACKAGE.glob("*.py")
            if path.stem not in ("__init__", "__main__")}


def unplaced(contract: dict[str, Any], names: set[str]) -> set[str]:
    """Modules in neither the stages (source) nor the edges (forbidden) list."""
    return names - set(contract["source_modules"]) - set(contract["forbidden_modules"])


def test_every_module_is_a_stage_or_an_edge() -> None:
    assert unplaced(layering(), modules()) == set()


def test_a_forgotten_module_is_caught() -> None:
    assert unplaced(layering(), modules() | {"bottlesync.brand_new"}) == {"bottlesync.brand_new"}


def test_no_module_is_both_a_stage_and_an_edge() -> None:
    contract = layering()
    assert set(contract["source_modules"]) & set(contract["forbidden_modules"]) == set()


def test_every_storage_module_is_kept_apart_from_upstream() -> None:
    forbidden = [c for c in contracts() if c["type"] == "forbidden"]
    outward = {m for c in forbidden if "bottlesync.upstream" in c["forbidden_modules"]
               for m in c["source_modules"]}
    inward = {m for c in forbidden if "bottlesync.upstream" in c["source_modules"]
              and "bottlesync.transport" in c["source_modules"]  # the HTTP client, both parts
              for m in c["forbidden_modules"]}
    storage_family = {f"bottlesync.{p.stem}" for p in PACKAGE.glob("*stor*.py")}
    assert storage_family >= STORAGE_MODULES
    assert storage_family <= outward
    assert storage_family <= inward
