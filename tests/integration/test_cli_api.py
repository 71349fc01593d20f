"""The signed API mirrored: verified, byte for byte, published only after the bottles it names."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from bottlesync.cli import main
from tests.conftest import SMALL_CATALOGUE, TEST_TAGS, CliResult, fast_sync
from tests.fakes.homebrew import FakeHomebrew
from tests.fakes.signing import new_key, sign_jws, write_public_pem


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    """The key the fake upstream signs with (the test's own homebrew-1)."""
    return new_key()


@pytest.fixture
def signed(key: rsa.RSAPrivateKey) -> Iterator[FakeHomebrew]:
    """The fake upstream serving SMALL_CATALOGUE and its signed API files."""
    with FakeHomebrew(SMALL_CATALOGUE, api_key=key) as fake:
        yield fake


def jws_source(fake: FakeHomebrew) -> str:
    """The signed catalogue's URL on the fake."""
    return fake.source_url.replace("formula.json", "formula.jws.json")


@pytest.fixture
def run(tmp_path: Path, key: rsa.RSAPrivateKey,
        signed: FakeHomebrew) -> Callable[..., CliResult]:
    """`bottlesync sync --json` in-process against the signed fake, trusting the test key."""
    pem = write_public_pem(key, tmp_path / "homebrew-test.pem")

    def sync(*args: str, **overrides: Any) -> CliResult:
        config = tmp_path / "config.yaml"
        settings = {"source": jws_source(signed), "api_public_key": str(pem), **overrides}
        config.write_text(yaml.safe_dump({"sync": fast_sync(dest=str(tmp_path / "mirror"),
                                                            **settings)}))
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["sync", "--config", str(config), "--json", *args], env={})
        return CliResult(code, out.getvalue(), err.getvalue())

    return sync


def record(mirror: Path, run_id: str) -> dict[str, Any]:
    """The run record of `run_id`."""
    path = mirror / "runs" / run_id[0:4] / run_id[4:6] / run_id[6:8] / f"{run_id}.json"
    return json.loads(path.read_text())


def expected_paths(fake: FakeHomebrew, tags: tuple[str, ...] = TEST_TAGS) -> set[str]:
    """The API files a sync of every formula for `tags` must mirror."""
    names = {e["name"] for e in fake.catalogue}
    return {"formula.jws.json", "formula_tap_migrations.jws.json", "cask.jws.json",
            "cask_tap_migrations.jws.json",
            *(f"internal/packages.{t}.jws.json" for t in tags),
            *(f"formula/{n}.json" for n in names)}


def api_files(mirror: Path) -> dict[str, bytes]:
    """Every published file under api/."""
    root = mirror / "api"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_signed_source_mirrors_the_api_byte_for_byte(run: Callable[..., CliResult],
                                                     signed: FakeHomebrew,
                                                     tmp_path: Path) -> None:
    """GIVEN the signed catalogue as source THEN exit 0, every API file identical to upstream,
    and formula.jws.json downloaded once (it is the catalogue too)."""
    result = run()
    assert result.code == 0, result.err
    published = api_files(tmp_path / "mirror")
    assert set(published) == expected_paths(signed)
    assert all(published[path] == signed.api_file(path) for path in published)
    assert "formula/openssl@3.json" in published
    gets = [r.path for r in signed.requests if r.method == "GET" and r.path.startswith("/api/")]
    assert gets.count("/api/formula.jws.json") == 1
    assert "/api/formula.json" not in gets
    assert record(tmp_path / "mirror", result.json["run_id"])["api_held"] is None


def test_unsigned_source_fetches_the_api_beside_it(run: Callable[..., CliResult],
                                                   signed: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN formula.json as source THEN the API files come from the same api/ directory."""
    result = run(source=signed.source_url)
    assert result.code == 0, result.err
    assert set(api_files(tmp_path / "mirror")) == expected_paths(signed)


HOSTILE = {
    "tampered": lambda doc, k: json.dumps({**json.loads(doc),
                                           "payload": json.loads(doc)["payload"] + " "}).encode(),
    "wrong-kid": lambda doc, k: sign_jws(json.loads(doc)["payload"], k, kid="homebrew-2"),
    "b64-true": lambda doc, k: sign_jws(json.loads(doc)["payload"], k, b64=True),
    "wrong-alg": lambda doc, k: sign_jws(json.loads(doc)["payload"], k, alg="RS512"),
    "other-key": lambda doc, k: sign_jws(json.loads(doc)["payload"], new_key()),
}
REASONS = {"tampered": "signature mismatch", "wrong-kid": "unknown key id",
           "b64-true": "wrong algorithm", "wrong-alg": "wrong algorithm",
           "other-key": "signature mismatch"}


@pytest.mark.parametrize("path", ["formula.jws.json", "cask.jws.json",
                                  "internal/packages.x86_64_linux.jws.json"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_file_that_fails_verification_is_fatal(run: Callable[..., CliResult],
                                                 signed: FakeHomebrew, key: rsa.RSAPrivateKey,
                                                 tmp_path: Path, path: str, kind: str) -> None:
    """GIVEN one hostile API file THEN exit 2, one line naming the file and why, nothing written."""
    signed.api_overrides[path] = HOSTILE[kind](signed.api_file(path), key)
    result = run()
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("bottlesync: error: ") and result.err.count("\n") == 1
    assert f"/api/{path}: {REASONS[kind]}" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "mirror").exists()


def test_homebrews_own_key_refuses_a_file_signed_by_another(run: Callable[..., CliResult],
                                                            tmp_path: Path) -> None:
    """GIVEN no sync.api_public_key THEN the shipped homebrew-1 key is used and refuses ours."""
    result = run(api_public_key=None)
    assert result.code == 2
    assert "formula.jws.json: signature mismatch" in result.err


def test_a_missing_packages_file_is_reported_not_fatal(run: Callable[..., CliResult],
                                                       signed: FakeHomebrew, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """GIVEN a configured tag upstream has no packages file for THEN exit 0, the rest published,
    the run record names the missing file."""
    signed.api_overrides["internal/packages.sonoma.jws.json"] = None
    result = run(tags=[*TEST_TAGS, "sonoma"])
    assert result.code == 0, result.err
    doc = record(tmp_path / "mirror", result.json["run_id"])
    assert doc["api_missing"] == ["internal/packages.sonoma.jws.json: HTTP 404"]
    assert "internal/packages.x86_64_linux.jws.json" in api_files(tmp_path / "mirror")
    assert "packages.sonoma.jws.json is not upstream (404)" in caplog.text


def test_api_waits_for_the_bottles_it_names(run: Callable[..., CliResult], signed: FakeHomebrew,
                                            tmp_path: Path) -> None:
    """GIVEN a new release whose bottle fails THEN the previous API files stay and the record
    says why; WHEN the next run lands it THEN the new API files are published."""
    mirror = tmp_path / "mirror"
    assert run().code == 0
    before = api_files(mirror)
    jq = next(f for f in SMALL_CATALOGUE if f.name == "jq")
    signed.set_formula(replace(jq, version="1.8.0", revision=0))
    signed.fault("status", signed.sha256("jq", "x86_64_linux"), times=-1, code=503)
    failed = run()
    assert failed.code == 1
    assert api_files(mirror) == before
    held = record(mirror, failed.json["run_id"])["api_held"]
    assert "not present" in held and "jq-1.8.0.x86_64_linux.bottle.tar.gz" in held
    signed.clear_faults()
    good = run()
    assert good.code == 0, good.err
    after = api_files(mirror)
    assert after["formula.jws.json"] == signed.api_file("formula.jws.json") != before[
        "formula.jws.json"]
    assert b"1.8.0" in after["formula/jq.json"]


def test_a_bottle_upstream_lacks_does_not_hold_the_api(run: Callable[..., CliResult],
                                                       signed: FakeHomebrew,
                                                       tmp_path: Path) -> None:
    """GIVEN a bottle the upstream answers 404 for THEN exit 1 but the API is published."""
    signed.fault("status", signed.sha256("jq", "x86_64_linux"), times=-1, code=404)
    result = run()
    assert result.code == 1
    assert [f["error"] for f in result.json["failures"]] == ["UpstreamError"]
    assert set(api_files(tmp_path / "mirror")) == expected_paths(signed)


def test_api_off_mirrors_no_api(run: Callable[..., CliResult], signed: FakeHomebrew,
                                tmp_path: Path) -> None:
    """GIVEN `api: false` THEN no api/ directory and no API request beyond the catalogue."""
    assert run(api=False).code == 0
    assert not (tmp_path / "mirror/api").exists()
    assert [r.path for r in signed.requests if r.path.startswith("/api/")] == [
        "/api/formula.jws.json"]


def test_a_dry_run_fetches_no_api_file(run: Callable[..., CliResult], signed: FakeHomebrew,
                                       tmp_path: Path) -> None:
    """GIVEN --dry-run THEN only the (verified) catalogue is fetched from api/, nothing written."""
    assert run("--dry-run").code == 0
    assert [r.path for r in signed.requests if r.path.startswith("/api/")] == [
        "/api/formula.jws.json"]
    assert not (tmp_path / "mirror").exists()


def test_the_key_is_read_when_a_file_needs_it(run: Callable[..., CliResult],
                                              signed: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN sync.api_public_key naming no file THEN a source with an API beside it fails on
    the first file to verify (exit 2, one line naming the setting and the path); a re-sync from
    a copy of the catalogue with no API beside it has nothing to verify and ends well (the
    key is never read)."""
    assert run(source=signed.source_url).code == 0
    missing = str(tmp_path / "nowhere.pem")
    result = run(source=signed.source_url, api_public_key=missing)
    assert (result.code, result.out) == (2, "")
    assert result.err == (f"bottlesync: error: sync.api_public_key: {missing}: cannot read: "
                          f"No such file or directory\n")
    alone = tmp_path / "alone" / "formula.json"
    alone.parent.mkdir()
    alone.write_bytes(json.dumps(signed.catalogue).encode())
    result = run(source=str(alone), api_public_key=missing)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["present"] == report["selected"] > 0
