"""GIVEN names and messages from upstream (catalogue, manifest) holding ANSI escapes and control
characters THEN the terminal summary, --quiet lines and `bottlesync: error:` lines show them
escaped: nothing a hostile catalogue sends can clear the screen, forge a line or a hyperlink.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.fakes.homebrew import FakeHomebrew

HOSTILE = "evil\x1b]8;;https://e.vil/\x07click\x1b]8;;\x07\x1b[2J\r\nbottlesync: all good\u202e"


def assert_inert(text: str) -> None:
    """No ESC, BEL, CR, C1 or bidi override survives; the escaped form is shown instead."""
    assert not any(c in text for c in "\x1b\x07\r\x9b\u202e")
    assert "\\x1b" in text


def test_hostile_catalogue_names_are_escaped_in_the_summary(
        homebrew: FakeHomebrew, cli: Callable[..., CliResult]) -> None:
    """GIVEN a catalogue entry whose name carries escapes THEN the summary shows it escaped."""
    entry = copy.deepcopy(homebrew.catalogue[0])
    entry["name"] = HOSTILE
    homebrew.catalogue.append(entry)
    for args in (("sync",), ("sync", "--quiet")):
        result = cli(*args)
        assert result.code == 1
        shown = result.out + result.err
        assert "InvalidEntry" in shown
        assert_inert(shown)
        assert "bottlesync: all good" not in shown.splitlines()


def test_error_lines_are_escaped(homebrew: FakeHomebrew, tmp_path: Path,
                                 cli: Callable[..., CliResult]) -> None:
    """GIVEN a manifest whose bottle name carries escapes THEN the one error line is inert."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    doc = {"schema": 1, "updated_at": None,
           "bottles": {HOSTILE: {"sha256": "nope", "size": 1, "key": "bottles/x"}}}
    (mirror / "bottles_hash.json").write_text(json.dumps(doc))
    result = cli("sync")
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
    assert result.err.startswith("bottlesync: error: ")
    assert_inert(result.err)
