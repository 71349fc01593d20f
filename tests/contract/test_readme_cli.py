"""The README's CLI reference matches the tool: verify's flags, both JSON objects, the units."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bottlesync.cli import build_parser
from bottlesync.commit import RunReport
from bottlesync.config import parse_size
from bottlesync.errors import ConfigError
from bottlesync.messages import summary_message
from bottlesync.units import human_bytes
from bottlesync.verify import VerifyReport

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
# The sections a user reads to run the tool (later ones quote AWS prices and benchmark figures).
USER_PART = README[README.index("## Quick start"):README.index("## Architecture in one screen")]


def options_of(command: str) -> set[str]:
    """Every long option of a subcommand, as argparse knows it."""
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {o for a in sub.choices[command]._actions for o in a.option_strings
            if o.startswith("--") and o != "--help"}


def quoted_keys(text: str) -> list[str]:
    """The `"key"` names of a JSON shape quoted in the README, in order, nested ones omitted."""
    return re.findall(r'"(\w+)"(?!\w)', re.sub(r"\[\{[^]]*\}\]", "", text))


def test_readme_verify_usage_lists_every_verify_flag() -> None:
    """GIVEN verify's argparse options THEN the README's verify usage names each one."""
    usage = re.search(r"^bottlesync verify (.*?)\nbottlesync config", README, re.M | re.S)
    assert usage is not None
    assert set(re.findall(r"--[a-z-]+", usage.group(1))) == options_of("verify")
    assert {"--source", "--config", "--env", "--concurrency", "--json", "--repair"} <= (
        options_of("verify"))


def test_readme_json_objects_are_the_tools() -> None:
    """GIVEN the sync and verify JSON shapes in the README THEN exactly the keys the tool prints,
    in its order (`seeded` right after `present`)."""
    sync = re.search(r'`(\{"run_id".*?\}\])\}`', USER_PART, re.S)
    verify = re.search(r'`(\{"checked".*?\}\])\}`', USER_PART, re.S)
    assert sync is not None and verify is not None
    report = RunReport(run_id="r", selected=0, present=0, mirrored=0, planned_bytes=0, bytes=0,
                       route="none")
    assert quoted_keys(sync.group(1)) == list(report.to_json())
    assert quoted_keys(verify.group(1)) == list(VerifyReport().to_json())


def test_one_binary_unit_family_everywhere() -> None:
    """GIVEN sizes in the summary, the Slack message and config.yaml THEN KiB/MiB/GiB (1024^n);
    a decimal unit is refused in config and appears nowhere in the user's part of the README."""
    assert human_bytes(3 << 20) == "3.0 MiB" and human_bytes(1536) == "1.5 KiB"
    slack = summary_message({"bytes": 3 << 20, "planned_bytes": 5 << 30}, "x", 10).text
    assert "3.0 MiB of 5.0 GiB planned" in slack
    assert parse_size("20 GiB") == 20 << 30
    with pytest.raises(ConfigError):
        parse_size("20 GB")
    assert not re.findall(r"\b[0-9.]+ ?(?:kB|KB|MB|GB|TB)\b", USER_PART)
