"""`python -m bottlesync` is the CLI."""

from bottlesync.cli import entry

entry()
