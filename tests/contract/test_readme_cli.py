"""The README's CLI reference matches the tool: verify's flags, both JSON objects, the units."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bottlesync.api import PUBLIC_PREFIX, stash_prefix
from bottlesync.cli import build_parser
from bottlesync.commit import RunReport
from bottlesync.config import parse_size
from bottlesync.errors import ConfigError
from bottlesync.freshness import STATE_KEY
from bottlesync.manifest import MANIFEST_KEY
from bottlesync.messages import summary_message
from bottlesync.status import PAGE_KEY, STATUS_KEY
from bottlesync.units import human_bytes
from bottlesync.verify import VerifyReport

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
# The sections a user reads to run the tool (later ones quote AWS prices and benchmark figures).
USER_PART = README[README.index("## Quick start"):README.index("## Architecture in one screen")]
CLI_BLOCK = README[README.index("## CLI reference"):].split("```")[1]
LANDS_BLOCK = README[README.index("## What lands in the destination"):].split("```")[1]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's subcommands by name (none for a leaf)."""
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def command_parser(words: list[str]) -> argparse.ArgumentParser:
    """The parser of `bottlesync <words...>` (e.g. ["config", "render"])."""
    parser = build_parser()
    for word in words:
        parser = subparsers(parser)[word]
    return parser


def options_of(command: str) -> set[str]:
    """Every long option of a subcommand, as argparse knows it."""
    return {o for a in command_parser(command.split())._actions for o in a.option_strings
            if o.startswith("--") and o != "--help"}


def required_of(parser: argparse.ArgumentParser) -> set[str]:
    """The long options that must be given (alone, or as one of a required exclusive group)."""
    grouped = {o for g in parser._mutually_exclusive_groups if g.required
               for a in g._group_actions for o in a.option_strings}
    return grouped | {o for a in parser._actions if a.required for o in a.option_strings
                      if o.startswith("--")}


def readme_usages() -> dict[str, str]:
    """The CLI reference's usage of each (sub)command: `config validate` -> its arguments."""
    usages: dict[str, str] = {}
    text = re.sub(r"\n {4,}", " ", CLI_BLOCK)  # continuation lines join their command
    for line in text.strip().splitlines():
        for usage in line.split(" | bottlesync "):
            words = usage.removeprefix("bottlesync ").split()
            command = [w for w in words[:2] if re.fullmatch(r"[a-z]+", w)]
            usages[" ".join(command)] = " ".join(words[len(command):])
    return usages


def shown(usage: str) -> tuple[set[str], set[str], list[str]]:
    """A usage's long options, those outside brackets (required), and its positional words."""
    options, required, positionals, depth = set(), set(), [], 0
    for token in re.findall(r"--[a-z0-9-]+|\[|\]|[A-Z][A-Z_-]*|\S", usage):
        depth += token == "["
        depth -= token == "]"
        if token.startswith("--"):
            options.add(token)
            if depth == 0:
                required.add(token)
        elif re.fullmatch(r"[A-Z][A-Z_-]+", token) and depth == 0 and not re.search(
                rf"--[a-z0-9-]+ {token}(?![\w-])", usage):
            positionals.append(token)
    return options, required, positionals


def test_readme_usage_lines_are_the_parsers() -> None:
    """GIVEN every (sub)command argparse knows THEN the CLI reference has its usage, with exactly
    its long options, brackets around the optional ones only, and its positional arguments."""
    leaves = {name for name, sub in subparsers(build_parser()).items() if not subparsers(sub)}
    nested = {f"{name} {leaf}" for name, sub in subparsers(build_parser()).items()
              for leaf in subparsers(sub)}
    usages = readme_usages()
    assert set(usages) == leaves | nested
    for command, usage in usages.items():
        parser = command_parser(command.split())
        options, required, positionals = shown(usage)
        assert options == options_of(command), command
        assert required == required_of(parser), command
        wanted = [a.dest.upper() for a in parser._actions
                  if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
        assert positionals == wanted, command


def test_usage_check_catches_a_missing_option() -> None:
    """GIVEN a usage without one of prune's options THEN the comparison sees it."""
    options, _, _ = shown(readme_usages()["prune"].replace("[--apply]", ""))
    assert options_of("prune") - options == {"--apply"}


def test_readme_lists_every_key_the_mirror_writes_at_its_base() -> None:
    """GIVEN the keys the code writes outside the bottle prefixes THEN "What lands in the
    destination" names each one."""
    for key in (MANIFEST_KEY, PUBLIC_PREFIX, STATUS_KEY, PAGE_KEY, STATE_KEY,
                stash_prefix("<run_id>")):
        assert key in LANDS_BLOCK, key


def quoted_keys(text: str) -> list[str]:
    """The `"key"` names of a JSON shape quoted in the README, in order, nested ones omitted."""
    return re.findall(r'"(\w+)"(?!\w)', re.sub(r"\[\{[^]]*\}\]", "", text))


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
