"""CLI at the unit level: argument parsing, settings precedence, config commands, exit codes."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bottlesync import cli
from bottlesync.cli import EXIT_OK, EXIT_USAGE, build_parser, main, resolve_settings
from bottlesync.config import Settings
from bottlesync.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "config.yaml"
ENVIRONMENT = {"region": "us-east-1", "stack_name": "s", "parameters": {"LambdaMemorySize": 256}}


def run(capsys: pytest.CaptureFixture[str], *argv: str,
        env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """main() in-process: (exit code, stdout, stderr), SystemExit included."""
    try:
        code = main(list(argv), env=env or {})
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path: Path, sync: dict[str, Any], dev_sync: dict[str, Any]) -> Path:
    """A config.yaml with a `sync` section and a `dev` environment overriding it."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"sync": sync,
                                    "environments": {"dev": {**ENVIRONMENT, "sync": dev_sync}}}))
    return path


def settings_for(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    """resolve_settings for a command line."""
    return resolve_settings(build_parser().parse_args(argv), env or {})


@pytest.mark.parametrize(("argv", "needle"), [
    ([], "the following arguments are required: command"),
    (["mirror"], "argument command: invalid choice: 'mirror'"),
    (["sync", "--layout", "flat"], "argument --layout: invalid choice: 'flat'"),
    (["sync", "--concurrency", "many"], "argument --concurrency: invalid int value: 'many'"),
    (["sync", "--bogus"], "unrecognized arguments: --bogus"),
    (["config"], "the following arguments are required: action"),
    (["config", "render"], "the following arguments are required: --env"),
])
def test_parser_errors_exit_2_with_a_message(capsys: pytest.CaptureFixture[str],
                                             argv: list[str], needle: str) -> None:
    """GIVEN bad usage THEN exit 2, usage and `bottlesync: error: ...` on stderr, stdout empty."""
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert out == ""
    assert "usage: bottlesync" in err
    assert f"bottlesync: error: {needle}" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN --version THEN the version on stdout and exit 0."""
    code, out, _ = run(capsys, "--version")
    assert code == EXIT_OK and out.startswith("bottlesync ")


def test_config_validate_shipped(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN the shipped config THEN valid, naming every environment."""
    code, out, err = run(capsys, "config", "validate", "--config", str(SHIPPED))
    assert (code, err) == (EXIT_OK, "")
    assert out == f"{SHIPPED}: valid (environments: dev, staging, prod)\n"
    code, out, _ = run(capsys, "config", "validate", "--config", str(SHIPPED), "--env", "prod")
    assert code == EXIT_OK and "(environments: prod)" in out


@pytest.mark.parametrize(("doc", "needle"), [
    ({"sync": {"concurrency": 0}}, "sync.concurrency"),
    ({"environments": {"dev": {**ENVIRONMENT, "sync": {"layout": "flat"}}}},
     "environments.dev.sync.layout"),
])
def test_config_validate_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 doc: dict[str, Any], needle: str) -> None:
    """GIVEN a bad config THEN exit 2 and the error names the file and the key."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, out, err = run(capsys, "config", "validate", "--config", str(path))
    assert code == EXIT_USAGE and out == ""
    assert err.startswith(f"bottlesync: error: {path}: ") and needle in err


def test_config_validate_unknown_env_and_missing_file(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    """GIVEN --env qa or no file THEN exit 2 with the reason."""
    code, _, err = run(capsys, "config", "validate", "--config", str(SHIPPED), "--env", "qa")
    assert code == EXIT_USAGE and "no environment 'qa' (known: dev, prod, staging)" in err
    code, _, err = run(capsys, "config", "validate", "--config", str(tmp_path / "none.yaml"))
    assert code == EXIT_USAGE and "cannot read config" in err


def test_config_render_dev(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN `config render --env dev` THEN only dev's tables, as valid TOML."""
    code, out, _ = run(capsys, "config", "render", "--config", str(SHIPPED), "--env", "dev")
    assert code == EXIT_OK
    doc = tomllib.loads(out)
    assert list(doc) == ["dev"]
    assert doc["dev"]["global"]["parameters"]["stack_name"] == "homebrew-bottles-sync-dev"


def test_precedence_flags_over_env_section_over_file(tmp_path: Path) -> None:
    """GIVEN the same key in file, env section and flags THEN the flag wins, then the section."""
    path = write_config(tmp_path, {"concurrency": 2, "layout": "dated", "tags": ["sonoma"],
                                   "dest": "./file-dest"},
                        {"concurrency": 5, "layout": "artifact-domain"})
    from_file = settings_for(["sync", "--config", str(path)])
    assert (from_file.concurrency, from_file.layout, from_file.dest) == (2, "dated", "./file-dest")
    from_env = settings_for(["sync", "--config", str(path), "--env", "dev"])
    assert (from_env.concurrency, from_env.layout, from_env.tags) == (5, "artifact-domain",
                                                                      ("sonoma",))
    flags = settings_for(["sync", "--config", str(path), "--env", "dev", "--concurrency", "9",
                          "--tag", "arm64_linux", "--tag", "all", "--formula", "wget",
                          "--dest", "s3://bucket/p", "--seed-manifest", "s3://b/s.json",
                          "--source", "file:///tmp/f.json", "--layout", "bottle-domain"])
    assert (flags.concurrency, flags.tags, flags.formulae) == (9, ("arm64_linux", "all"),
                                                               ("wget",))
    assert (flags.dest, flags.seed_manifest, flags.source, flags.layout) == (
        "s3://bucket/p", "s3://b/s.json", "file:///tmp/f.json", "bottle-domain")


def test_registry_token_comes_from_the_environment(tmp_path: Path) -> None:
    """GIVEN BOTTLESYNC_REGISTRY_TOKEN THEN it is the token (an empty one is ignored)."""
    path = write_config(tmp_path, {}, {})
    argv = ["sync", "--config", str(path)]
    assert settings_for(argv, {"BOTTLESYNC_REGISTRY_TOKEN": "ghp_x"}).registry_token == "ghp_x"
    assert settings_for(argv, {"BOTTLESYNC_REGISTRY_TOKEN": ""}).registry_token is None
    assert settings_for(argv).registry_token is None


def test_default_config_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN ./config.yaml and no --config THEN it is used; without it, the defaults."""
    monkeypatch.chdir(tmp_path)
    assert settings_for(["sync"]) == Settings()
    write_config(tmp_path, {"concurrency": 3}, {})
    assert settings_for(["sync"]).concurrency == 3
    assert settings_for(["verify", "--env", "dev"]).concurrency == 3


def test_env_without_a_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN --env and no config file THEN exit 2 naming the missing file, nothing created."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="--env dev needs a config file"):
        settings_for(["sync", "--env", "dev"])
    code, out, err = run(capsys, "sync", "--env", "dev", "--dest", str(tmp_path / "m"))
    assert (code, out) == (EXIT_USAGE, "")
    assert "needs a config file (config.yaml not found)" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("argv", "needle"), [
    (["sync", "--concurrency", "0"], "command line: concurrency"),
    (["sync", "--tag", "Not A Tag"], "command line: tags.0"),
    (["sync", "--formula", "../etc"], "command line: formulae.0"),
    (["sync", "--dest", "ftp://host/x"], "destination must be a directory"),
    (["verify", "--dest", "s3://Bad_Bucket"], "not a valid S3 bucket name"),
])
def test_bad_values_exit_2_and_write_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                             needle: str) -> None:
    """GIVEN a flag the schema rejects THEN exit 2 naming it, and no destination is created."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("bottlesync: error: ") and needle in err
    assert list(tmp_path.iterdir()) == []


def test_unreadable_catalogue_exits_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a catalogue file that is not JSON THEN exit 2 and no mirror directory."""
    monkeypatch.chdir(tmp_path)
    catalogue = tmp_path / "formula.json"
    catalogue.write_text("<html>")
    code, _, err = run(capsys, "sync", "--source", str(catalogue), "--dest",
                       str(tmp_path / "mirror"))
    assert code == EXIT_USAGE and "is not JSON" in err
    assert not (tmp_path / "mirror").exists()


def test_a_ca_bundle_variable_keeps_the_lean_transport_and_a_proxy_does_not() -> None:
    """GIVEN REQUESTS_CA_BUNDLE THEN the sync verifies against it without requests; GIVEN a
    proxy variable THEN requests sends (it knows proxies)."""
    bundle = settings_for(["sync"], {"REQUESTS_CA_BUNDLE": "/etc/corp.pem"})
    assert (bundle.trust_env, bundle.ca_bundle) == (False, "/etc/corp.pem")
    proxy = settings_for(["sync"], {"HTTPS_PROXY": "http://proxy.corp:3128"})
    assert (proxy.trust_env, proxy.ca_bundle) == (True, None)


def test_the_console_script_freezes_what_it_imported_then_exits_with_mains_code(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN the console script's entry THEN the GC is told to skip the imported modules
    before the command runs, and the process exits with the command's code."""
    calls: list[str] = []
    monkeypatch.setattr(cli.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(cli, "main", lambda: calls.append("main") or 2)
    with pytest.raises(SystemExit) as exited:
        cli.entry()
    assert (calls, exited.value.code) == (["freeze", "main"], 2)
