"""`make demo`: a real `bottlesync sync` against a local fake Homebrew, no internet needed.

Starts FakeHomebrew with ~40 familiar formulae (dependencies, revisions, rebuilds, `all`
bottles, names with `@` and `+`), injects a few upstream faults that the sync must survive,
runs `bottlesync sync` in a child process on this terminal (so the progress bar shows), and
says how to serve the result.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bottlesync.units import human_bytes
from tests.fakes.homebrew import FakeFormula, FakeHomebrew

KB = 1000
MAC = ("arm64_sequoia", "arm64_sonoma", "sonoma")
EVERYWHERE = (*MAC, "x86_64_linux", "arm64_linux")
ALL = ("all",)
DEMO_TAGS = ("arm64_sequoia", "x86_64_linux")
PACED = ("node", "python@3.13", "gcc", "go", "rust")  # slowed so the bar has time to move
INTERRUPTED = 130  # what bottlesync (and a shell) answer to Ctrl-C


def _f(name: str, version: str, size_kb: int, deps: Sequence[str] = (), *,
       revision: int = 0, rebuild: int = 0, tags: tuple[str, ...] = EVERYWHERE) -> FakeFormula:
    """A demo formula whose bottles carry about `size_kb` kB of payload."""
    return FakeFormula(name, version, revision=revision, rebuild=rebuild, tags=tags,
                       dependencies=tuple(deps), payload_size=size_kb * KB)


DEMO_FORMULAE = (
    _f("ca-certificates", "2026-11-01", 40, tags=ALL),
    _f("openssl@3", "3.4.0", 160, ["ca-certificates"], revision=1),
    _f("libunistring", "1.3", 60),
    _f("libidn2", "2.3.7", 30, ["libunistring"]),
    _f("gettext", "0.22.5", 90, ["libunistring"]),
    _f("wget", "1.25.0", 40, ["libidn2", "openssl@3"], revision=1, rebuild=1),
    _f("pcre2", "10.44", 50),
    _f("git", "2.47.1", 120, ["gettext", "pcre2"]),
    _f("xz", "5.6.3", 40),
    _f("zstd", "1.5.6", 50, ["lz4", "xz"]),
    _f("lz4", "1.10.0", 20),
    _f("mpdecimal", "4.0.0", 20),
    _f("readline", "8.2.13", 25),
    _f("sqlite", "3.47.1", 80, ["readline"]),
    _f("python@3.13", "3.13.1", 250, ["mpdecimal", "openssl@3", "sqlite", "xz"], rebuild=1),
    _f("brotli", "1.1.0", 30),
    _f("c-ares", "1.34.3", 25),
    _f("icu4c@76", "76.1", 150),
    _f("libnghttp2", "1.64.0", 20),
    _f("libuv", "1.49.2", 25),
    _f("node", "23.4.0", 300, ["brotli", "c-ares", "icu4c@76", "libnghttp2", "libuv",
                               "openssl@3"]),
    _f("oniguruma", "6.9.9", 30),
    _f("jq", "1.7.1", 25, ["oniguruma"], revision=2),
    _f("ripgrep", "14.1.1", 60, ["pcre2"]),
    _f("tree", "2.2.1", 10),
    _f("ncurses", "6.5", 60),
    _f("htop", "3.3.0", 30, ["ncurses"]),
    _f("libssh2", "1.11.1", 30, ["openssl@3"]),
    _f("curl", "8.11.1", 60, ["brotli", "libnghttp2", "libssh2", "openssl@3", "zstd"]),
    _f("gmp", "6.3.0", 40),
    _f("mpfr", "4.2.1", 30, ["gmp"]),
    _f("libmpc", "1.3.1", 20, ["gmp", "mpfr"]),
    _f("isl", "0.27", 30, ["gmp"]),
    _f("gcc", "14.2.0", 350, ["gmp", "isl", "libmpc", "mpfr", "zstd"], revision=1),
    _f("go", "1.23.4", 300),
    _f("pkgconf", "2.3.0", 20),
    _f("rust", "1.83.0", 300, ["libssh2", "openssl@3", "pkgconf"]),
    _f("ninja", "1.12.1", 20),
    _f("meson", "1.6.1", 50, ["ninja", "python@3.13"], tags=ALL),
    _f("libsigc++", "3.6.0", 20, tags=MAC),
    _f("libyaml", "0.2.5", 15),
    _f("ruby", "3.3.6", 120, ["libyaml", "openssl@3"]),
    _f("fzf", "0.57.0", 40, tags=(*MAC, "x86_64_linux")),
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Where to mirror, and whether to pace the transfers and print the serving hint."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", default="./demo-mirror", help="mirror directory")
    parser.add_argument("--fast", action="store_true", help="do not slow the big bottles down")
    parser.add_argument("--no-serve-hint", dest="serve_hint", action="store_false",
                        help="do not print how to serve the mirror")
    return parser.parse_args(argv)


def add_faults(fake: FakeHomebrew, paced: bool) -> None:
    """A 503, a dropped connection and a truncated body (each once), and slow big bottles."""
    fake.fault("status", fake.sha256("git", "arm64_sequoia"), code=503, retry_after=1)
    fake.fault("reset", fake.sha256("curl", "x86_64_linux"))
    fake.fault("truncate", fake.sha256("openssl@3", "arm64_sequoia"))
    if paced:
        for name in PACED:
            for tag in DEMO_TAGS:
                fake.fault("slow", fake.sha256(name, tag), delay=0.08)


def describe(dest: Path) -> str:
    """One line about what the mirror's manifest lists."""
    try:
        bottles = json.loads((dest / "bottles_hash.json").read_text())["bottles"]
    except (OSError, ValueError, KeyError):
        return f"{dest}: no manifest was written"
    size = sum(entry.get("size") or 0 for entry in bottles.values())
    return f"{dest}: {len(bottles)} verified bottles, {human_bytes(size)}, in bottles_hash.json"


def serve_hint(dest: Path) -> str:
    """How to serve the directory to brew."""
    return (
        "\nServe it and point brew at it:\n"
        f"  python -m http.server -d {dest} 8080\n"
        "  HOMEBREW_BOTTLE_DOMAIN=http://localhost:8080/bottles brew install wget\n"
        "(These demo bottles are synthetic, so a real brew would reject their checksums;\n"
        " `make sync` mirrors the real ones into ./mirror, served the same way.)\n"
    )


def run_child(command: Sequence[str]) -> int:
    """Run the sync and wait for it, also through Ctrl-C.

    The terminal sends SIGINT to the child too: bottlesync prints its one "interrupted" line
    and exits 130 once its in-flight bottles are done; the fake must keep serving until then.
    """
    child = subprocess.Popen(command)
    # Ignored here, not caught: a KeyboardInterrupt between waitpid and Popen recording the
    # status would lose it (a later wait() then reports 0). The child still gets the SIGINT.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; the exit status is the sync's (130 when interrupted)."""
    args = parse_args(argv)
    try:
        return demo(args)
    except KeyboardInterrupt:  # before or after the sync: nothing half-done to report
        print("demo: interrupted", file=sys.stderr)
        return INTERRUPTED


def demo(args: argparse.Namespace) -> int:
    """Start the fake, inject its faults, run the sync against it, say how to serve the result."""
    dest = Path(args.dest)
    try:
        fake = FakeHomebrew(DEMO_FORMULAE).start()
    except OSError as exc:
        print(f"demo: cannot start the fake upstream on 127.0.0.1/127.0.0.2: {exc}\n"
              "  on macOS add the second loopback address: sudo ifconfig lo0 alias 127.0.0.2 up",
              file=sys.stderr)
        return 2
    try:
        add_faults(fake, paced=not args.fast)
        command = ["bottlesync", "sync", "--source", fake.source_url, "--dest", str(dest),
                   "--layout", "bottle-domain",
                   *(arg for tag in DEMO_TAGS for arg in ("--tag", tag))]
        print(f"fake Homebrew: {len(DEMO_FORMULAE)} formulae at {fake.source_url}\n"
              f"(it answers one 503, drops one connection and truncates one body)\n"
              f"$ {' '.join(command)}", flush=True)
        code = run_child([sys.executable, "-m", "bottlesync", *command[1:]])
    finally:
        fake.stop()
    if code == INTERRUPTED:
        return code
    print(describe(dest))
    if args.serve_hint and code in (0, 1):
        print(serve_hint(dest), end="")
    return code


if __name__ == "__main__":
    sys.exit(main())
