"""GIVEN credentials in play (a registry token, ghcr's signed blob URLs) WHEN syncs run, succeed
or fail THEN each credential reaches only the host it was meant for and is never written or shown.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bottlesync.cli import main
from tests.conftest import fast_sync
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

TOKEN = "ghp_S3cretRegistryToken0123456789"
SIGNATURE = "s3cr3t"  # what the fake's blob redirects carry in their query string
FORMULAE = (FakeFormula("jq", "1.7.1", revision=1), FakeFormula("wget", "1.25.0", rebuild=1))


def run_cli(tmp_path: Path, fake: FakeHomebrew, capsys: pytest.CaptureFixture[str],
            *args: str) -> tuple[int, str]:
    """`bottlesync <args>` with the token in the environment; exit code and everything shown."""
    config = tmp_path / "config.yaml"
    registry = [urlsplit(fake.root_url).netloc]  # the token goes to registry_hosts only
    config.write_text(yaml.safe_dump({"sync": fast_sync(fake.source_url, str(tmp_path / "mirror"),
                                                        registry_hosts=registry)}))
    code = main([args[0], "--config", str(config), *args[1:]],
                env={"BOTTLESYNC_REGISTRY_TOKEN": TOKEN})
    shown = capsys.readouterr()
    return code, shown.out + shown.err


def written(root: Path) -> str:
    """Every byte the run left in the destination, as text."""
    return "".join(p.read_bytes().decode("utf-8", "replace")
                   for p in root.rglob("*") if p.is_file())


@pytest.fixture
def fake() -> FakeHomebrew:
    """A registry that insists on our token (anonymous QQ== is refused)."""
    with FakeHomebrew(FORMULAE, token=TOKEN) as upstream:
        yield upstream


def test_the_token_goes_to_the_registry_only(fake: FakeHomebrew, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN a configured token THEN every registry request carries it, nothing else does."""
    code, _shown = run_cli(tmp_path, fake, capsys, "sync", "--json")
    assert code == 0
    registry = [r for r in fake.requests if r.host == "registry"]
    assert registry and all(r.headers.get("Authorization") == f"Bearer {TOKEN}"
                            for r in registry)
    others = [r for r in fake.requests if r.host != "registry"]
    assert others and not any("Authorization" in r.headers for r in others)
    assert fake.auth_leaks == []


@pytest.mark.parametrize("fault", [
    {"kind": "status", "match": "/ghcr1/", "times": -1, "code": 403},
    {"kind": "wrong_bytes", "match": "/ghcr1/", "times": -1},
    {"kind": "reset", "match": "/ghcr1/", "times": -1},
])
def test_failures_name_the_url_but_never_its_secrets(
        fake: FakeHomebrew, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture, fault: dict[str, object]) -> None:
    """GIVEN downloads failing on the signed blob host THEN messages, logs, JSON and run records
    name the bottle and the host but hold neither the token nor the URL's signature."""
    fake.fault(**fault)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG, logger="bottlesync")  # all of ours (urllib3's own DEBUG
    # lines print full URLs: operators opt into those; our edges run at WARNING)
    code, shown = run_cli(tmp_path, fake, capsys, "sync", "--json")
    assert code == 1
    stored = written(tmp_path / "mirror")
    assert "127.0.0.2" in stored or "DigestMismatch" in stored  # failures are reported...
    for secret in (TOKEN, SIGNATURE):  # ...without what would let anyone reuse them
        assert secret not in shown
        assert secret not in caplog.text
        assert secret not in stored


def test_the_token_is_never_in_settings_reprs_or_records(
        fake: FakeHomebrew, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN a successful run and a verify THEN no file, summary or report holds the token."""
    code, shown = run_cli(tmp_path, fake, capsys, "sync")
    assert code == 0
    verify_code, verify_shown = run_cli(tmp_path, fake, capsys, "verify",
                                        "--dest", str(tmp_path / "mirror"))
    assert verify_code == 0
    assert TOKEN not in shown + verify_shown
    assert TOKEN not in written(tmp_path / "mirror")
