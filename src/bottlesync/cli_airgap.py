"""`bottlesync export | import | prune`: the air-gap and retention commands (an edge module)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bottlesync.config import GIB, parse_size
from bottlesync.errors import ConfigError

COMMANDS = ("export", "import", "prune")


def _split_size(text: str) -> int:
    """`--split-size 4` (GiB) or `4 GiB`, `700 MiB`."""
    try:
        size = int(float(text) * GIB) if text.replace(".", "", 1).isdigit() else parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size < 1 << 20:
        raise argparse.ArgumentTypeError(f"{text!r}: parts must be at least 1 MiB")
    return size


def add_parsers(commands: Any, common: Any) -> None:
    """Register the three subcommands on the main parser's subparsers."""
    export = commands.add_parser("export", help="pack the bottles added since a day or run")
    common(export)
    since = export.add_mutually_exclusive_group(required=True)
    since.add_argument("--since", metavar="YYYY-MM-DD", help="runs from this UTC day on")
    since.add_argument("--run", metavar="RUN_ID", help="this run and every later one")
    export.add_argument("--out", required=True, type=Path, help="the tar to write (new file)")
    export.add_argument("--split-size", type=_split_size, metavar="N",
                        help="write parts <out>.000, .001... of N GiB (or '700 MiB')")

    imp = commands.add_parser("import", help="verify a delta and merge it into a mirror")
    common(imp)
    imp.add_argument("delta", type=Path, help="delta.tar (or its first part, delta.tar.000)")
    imp.add_argument("--expect-sha256", metavar="HEX",
                     help="the table's sha256 printed by export (refuse any other)")

    prune = commands.add_parser("prune", help="remove old bottles nothing names any more")
    common(prune)
    prune.add_argument("--source", help="catalogue URL or file (default: as for sync)")
    prune.add_argument("--keep-versions", type=int, default=0, metavar="N",
                       help="keep the N newest old versions per formula and tag (default 0)")
    prune.add_argument("--older-than", type=float, default=30, metavar="DAYS",
                       help="only bottles synced more than DAYS ago (default 30)")
    prune.add_argument("--apply", action="store_true", help="delete (default: list only)")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Dispatch one of COMMANDS; errors propagate to cli.main (exit 2, or 1 when partial).

    The domain is imported here, not at the top: building the parser (every command) must not
    cost a sync the air-gap modules' imports.
    """
    from bottlesync.cli import resolve_settings
    from bottlesync.export import export_delta
    from bottlesync.importer import import_delta
    from bottlesync.plan import iso
    from bottlesync.prune import PruneRequest, iter_lines, run_prune
    from bottlesync.status import write_status
    from bottlesync.storage import open_storage
    from bottlesync.units import human_bytes
    from bottlesync.upstream import Upstream

    settings = resolve_settings(args, env)
    storage = open_storage(settings.dest)
    now = datetime.now(UTC)
    if args.command == "export":
        report = export_delta(storage, args.out, since=args.since, run=args.run,
                              split_size=args.split_size, now=iso(now))
        if report is None:
            print(f"bottlesync: nothing was added to {storage.base} since "
                  f"{args.since or args.run}: no delta written", file=sys.stderr)
            return 0
        out: dict[str, Any] = {**vars(report)}
        human = (f"{', '.join(report.parts)}: {report.bottles} bottles, {report.members} files, "
                 f"{human_bytes(report.bytes)} from runs {report.runs[0]}..{report.runs[-1]}\n"
                 f"table sha256 {report.toc_sha256} (import with --expect-sha256 to check it)")
    elif args.command == "import":
        imported = import_delta(storage, args.delta, now=now, expect_sha256=args.expect_sha256)
        write_status(storage, now=now, public_url=settings.public_url)
        out = imported.to_json()
        human = (f"{args.delta}: {imported.bottles} bottles ({imported.present} already here), "
                 f"{len(imported.written)} files written, {human_bytes(imported.bytes)} "
                 f"into {storage.base}")
    else:
        if args.keep_versions < 0 or args.older_than < 0:
            raise ConfigError("--keep-versions and --older-than must not be negative")
        request = PruneRequest(args.keep_versions, args.older_than, args.apply)
        with Upstream(settings) as upstream:
            plan = run_prune(settings, request, storage=storage, upstream=upstream, now=now)
        out = plan.to_json(args.apply)
        human = "\n".join(iter_lines(plan, args.apply))
    print(json.dumps(out) if args.json else human)
    return 0
