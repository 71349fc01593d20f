"""bottlesync: keep a verified, incremental Homebrew bottle mirror."""

__version__ = "0.1.0"
