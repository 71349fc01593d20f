"""`bottlesync serve` on the command line: defaults, and bad usage as one line with exit 2."""

from __future__ import annotations

import io
import socket
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from bottlesync.cli import build_parser, main


def test_defaults_are_loopback_and_8080() -> None:
    """GIVEN only --dest THEN 127.0.0.1:8080 (nothing reachable from the LAN by accident)."""
    args = build_parser().parse_args(["serve", "--dest", "mirror"])
    assert (args.dest, args.bind, args.port) == ("mirror", "127.0.0.1", 8080)


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        try:
            code = main(list(argv), env={})
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


def test_bad_destinations_and_ports_exit_2(tmp_path: Path) -> None:
    """GIVEN no directory, an S3 destination, a bad or busy port THEN exit 2 naming it."""
    cases = [(["--dest", str(tmp_path / "nope")], "no such directory"),
             (["--dest", "s3://bucket/brew"], "serve needs a local directory"),
             (["--dest", str(tmp_path), "--port", "70000"], "not a port number")]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cases.append((["--dest", str(tmp_path), "--port", str(busy.getsockname()[1])],
                      "cannot listen"))
        for args, message in cases:
            code, err = run("serve", *args)
            assert code == 2 and message in err and "Traceback" not in err, args
            assert err.count("\n") == 1


@pytest.mark.parametrize("argv", [["serve"], ["serve", "--dest", "x", "--port", "eighty"]])
def test_usage_errors(argv: list[str]) -> None:
    """GIVEN a missing --dest or a non-numeric port THEN argparse's usage error, exit 2."""
    code, err = run(*argv)
    assert code == 2 and "bottlesync: error:" in err
