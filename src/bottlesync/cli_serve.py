"""`bottlesync serve --dest DIR [--bind 127.0.0.1] [--port 8080]`: the edge of serve.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bottlesync.errors import ConfigError
from bottlesync.storage import LocalStorage, open_storage

if TYPE_CHECKING:  # the server is imported when serving: every other command skips http.server
    from bottlesync.serve import MirrorServer


def add_parser(commands: Any) -> None:
    """Register the serve subcommand."""
    serve = commands.add_parser("serve", help="serve a local mirror over HTTP (LAN, laptop)")
    serve.add_argument("--dest", required=True, help="the mirror directory (./dir or file:///abs)")
    serve.add_argument("--bind", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (8080; 0 picks a free one)")


def make_server(dest: str, bind: str, port: int) -> MirrorServer:
    """A bound server for an existing local mirror; ConfigError names what is wrong."""
    from bottlesync.serve import MirrorServer

    storage = open_storage(dest)
    if not isinstance(storage, LocalStorage):
        raise ConfigError(f"--dest {dest}: serve needs a local directory (S3: use CloudFront)")
    if not storage.root.is_dir():
        raise ConfigError(f"--dest {dest}: no such directory")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: not a port number (0-65535)")
    try:
        return MirrorServer(storage, (bind, port))
    except OSError as exc:
        raise ConfigError(f"--bind {bind} --port {port}: cannot listen: "
                          f"{exc.strerror or exc}") from None


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Serve until interrupted; the URL goes to stderr (port 0 picks a free port)."""
    server = make_server(args.dest, args.bind, args.port)
    print(f"bottlesync: serving {args.dest} at {server.url} (Ctrl-C stops)", file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
