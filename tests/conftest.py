"""Shared fixtures: the fake Homebrew upstream, a test config, and the CLI run in-process."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings as hypothesis_settings

from bottlesync.cli import main
from bottlesync.config import Settings
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

TEST_TAGS = ("arm64_sequoia", "x86_64_linux")

# CI explores the same cases every run (a red build must be reproducible); locally hypothesis
# keeps searching new ones. `HYPOTHESIS_PROFILE=explore make test` searches in CI's shoes too.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore")
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "explore"))

# A small catalogue with every naming case: revision, rebuild, `@`, `+`, `all`, dependencies.
SMALL_CATALOGUE = (
    FakeFormula("wget", "1.25.0", revision=1, rebuild=1, dependencies=("openssl@3", "libidn2")),
    FakeFormula("openssl@3", "3.4.0", dependencies=("ca-certificates",)),
    FakeFormula("ca-certificates", "2026-11-01", tags=("all",)),
    FakeFormula("libidn2", "2.3.7", dependencies=("libunistring",)),
    FakeFormula("libunistring", "1.3"),
    FakeFormula("libxml++", "5.4.0", rebuild=2),
    FakeFormula("jq", "1.7.1", revision=2, tags=("arm64_sequoia", "x86_64_linux", "sonoma")),
)


def is_index_key(key: str) -> bool:
    """An OCI image index the mirror publishes beside the bottles (`<image>/manifests/<vr>`)."""
    return "/manifests/" in key


def bottle_names(directory: Path) -> set[str]:
    """The bottle files of a bottle-domain directory (its subdirectories hold OCI indexes)."""
    return {p.name for p in directory.iterdir() if p.is_file()}


@pytest.fixture
def homebrew() -> Iterator[FakeHomebrew]:
    """The fake upstream serving SMALL_CATALOGUE."""
    with FakeHomebrew(SMALL_CATALOGUE) as fake:
        yield fake


@pytest.fixture
def make_homebrew() -> Iterator[Callable[[Sequence[FakeFormula]], FakeHomebrew]]:
    """A factory for fakes with other catalogues (all stopped at teardown)."""
    started: list[FakeHomebrew] = []

    def make(formulae: Sequence[FakeFormula]) -> FakeHomebrew:
        fake = FakeHomebrew(formulae).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


def fast_sync(source: str, dest: str, **overrides: Any) -> dict[str, Any]:
    """A `sync:` section for tests: the fake source, two tags, no real sleeping."""
    return {
        "source": source,
        "dest": dest,
        "tags": list(TEST_TAGS),
        "concurrency": 4,
        "attempts": 3,
        "backoff_base": 0,
        "max_retry_after": 0.05,
        "connect_timeout": 2,
        "read_timeout": 2,
        **overrides,
    }


def fast_settings(source: str, dest: str | Path, **overrides: Any) -> Settings:
    """Settings equal to what the CLI builds from `fast_sync`."""
    return Settings.from_mapping(fast_sync(source, str(dest), **overrides), "test")


@dataclass
class CliResult:
    """What a person would see: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        """stdout parsed as the single JSON object --json promises."""
        return json.loads(self.out)


@pytest.fixture
def config_file(tmp_path: Path, homebrew: FakeHomebrew) -> Callable[..., Path]:
    """Write a config.yaml pointing at the fake; keyword arguments override `sync` keys."""

    def write(**overrides: Any) -> Path:
        path = tmp_path / "config.yaml"
        sync = fast_sync(homebrew.source_url, str(tmp_path / "mirror"), **overrides)
        path.write_text(yaml.safe_dump({"sync": sync}))
        return path

    return write


@pytest.fixture
def cli(tmp_path: Path, config_file: Callable[..., Path]) -> Callable[..., CliResult]:
    """Run `bottlesync <args>` in-process with the test config (unless --config is given)."""

    def run(*args: str, env: dict[str, str] | None = None, **overrides: Any) -> CliResult:
        argv = list(args)
        if argv and argv[0] in ("sync", "verify") and "--config" not in argv:
            argv[1:1] = ["--config", str(config_file(**overrides))]
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv, env=env or {})
            except SystemExit as exc:
                code = int(exc.code or 0)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
