"""terminal: upstream text is shown with its control characters escaped, never interpreted."""

from __future__ import annotations

import logging

import pytest

from bottlesync.terminal import InertFormatter, inert


@pytest.mark.parametrize(("raw", "shown"), [
    ("wget", "wget"),
    ("a\x1b[2Jb", "a\\x1b[2Jb"),                      # CSI: clear screen
    ("\x1b]8;;https://e.vil/\x07x", "\\x1b]8;;https://e.vil/\\x07x"),  # OSC 8 hyperlink
    ("line\r\nforged", "line\\r\\nforged"),             # a forged second line
    ("\x9b31m", "\\x9b31m"),                            # 8-bit CSI
    ("abc\u202eexe.gz", "abc\\u202eexe.gz"),            # right-to-left override
    ("caf\u00e9 \u2713", "caf\u00e9 \u2713"),           # ordinary non-ASCII stays readable
])
def test_inert_escapes_controls_only(raw: str, shown: str) -> None:
    """GIVEN text with control characters THEN they are escaped; other text is unchanged."""
    assert inert(raw) == shown


def test_log_lines_are_inert() -> None:
    """GIVEN a warning quoting upstream text THEN the formatted line holds no ESC."""
    record = logging.LogRecord("x", logging.WARNING, "f", 1, "failed: %s", ("\x1b[2J",), None)
    assert InertFormatter("%(message)s").format(record) == "failed: \\x1b[2J"
