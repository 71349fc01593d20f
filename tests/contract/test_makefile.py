"""The Makefile: `make help` lists only real targets, and test-fast/fmt do what they say."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")


def make(*args: str) -> str:
    """`make -n` output (dry run: prints the recipe, runs nothing) from the repository root."""
    assert MAKE is not None, "make is needed for the Makefile contract"
    done = subprocess.run([MAKE, "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def rule_targets() -> set[str]:
    """Every target the Makefile defines a rule for."""
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", text, flags=re.MULTILINE))


def test_help_lists_only_real_targets() -> None:
    """GIVEN `make help` THEN it lists every target, each has a rule, .PHONY names only rules."""
    lines = [line.split("(")[0] for line in make("help").splitlines()]  # (...): the variables
    listed = {word for line in lines for word in re.findall(r"\bmake ([a-z][a-z0-9-]*)|"
                                                            r"\| ([a-z][a-z0-9-]*)", line)
              for word in word if word}
    assert listed and listed <= rule_targets()
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(),
                                         re.MULTILINE) for name in line.split()}
    assert phony and phony <= rule_targets()
    assert listed == phony - {"help"}  # and every target is listed
    assert {"test-fast", "fmt"} <= listed


def test_test_fast_runs_the_suite_without_slow_tests() -> None:
    """GIVEN `make test-fast` THEN pytest deselects `slow` and skips reliability and bench."""
    recipe = make("-n", "test-fast").strip().splitlines()[-1]
    assert "pytest" in recipe and '-m "not slow"' in recipe
    assert "--ignore=tests/reliability" in recipe and "--ignore=tests/bench" in recipe


def test_fmt_applies_ruff_fixes_to_src_and_tests() -> None:
    """GIVEN `make fmt` THEN ruff check --fix over src and tests."""
    recipe = make("-n", "fmt").strip().splitlines()[-1]
    assert re.search(r"ruff check --fix src tests$", recipe)
