"""Upstream text made inert for a terminal: no control character or ANSI escape reaches a tty."""

from __future__ import annotations

import logging
import re

# C0 and C1 controls (ESC, CSI, OSC, BEL, CR...), DEL, and the bidi/zero-width marks that
# reorder or hide what a person reads
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def inert(text: object) -> str:
    """`text` with every unsafe character shown as its escape (`\\x1b`, `\\u202e`)."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text))


class InertFormatter(logging.Formatter):
    """A log formatter whose lines carry no control characters from the messages they quote."""

    def format(self, record: logging.LogRecord) -> str:
        """The usual line, made inert."""
        return inert(super().format(record))
