"""`make demo` (tests/fakes/demo.py) really mirrors its fake catalogue, faults and all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import bottle_names
from tests.fakes import demo


def test_demo_mirrors_every_bottle_then_resyncs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """GIVEN the demo WHEN run twice THEN every wanted bottle lands despite the faults, once."""
    monkeypatch.chdir(tmp_path)  # no ./config.yaml: the CLI's defaults
    dest = tmp_path / "demo-mirror"
    wanted = {f.file_name(t) for f in demo.DEMO_FORMULAE for t in f.tags
              if t in {*demo.DEMO_TAGS, "all"}}
    assert len(demo.DEMO_FORMULAE) >= 40 and len(wanted) > 80

    assert demo.main(["--dest", str(dest), "--fast", "--no-serve-hint"]) == 0
    out = capfd.readouterr().out
    assert f"mirrored {len(wanted)}  failed 0" in out
    assert "HOMEBREW_BOTTLE_DOMAIN=http://localhost:8080" not in out
    bottles = json.loads((dest / "bottles_hash.json").read_text())["bottles"]
    assert set(bottles) == wanted == bottle_names(dest / "bottles")
    assert "openssl@3-3.4.0_1.arm64_sequoia.bottle.tar.gz" in wanted

    assert demo.main(["--dest", str(dest), "--fast"]) == 0
    out = capfd.readouterr().out
    assert f"present {len(wanted)}  mirrored 0" in out
    assert f"python -m http.server -d {dest} 8080" in out
    assert "HOMEBREW_BOTTLE_DOMAIN=http://localhost:8080/bottles" in out
