"""`bottlesync`: the command line. The edge: it alone reads argv, the environment and the tty."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bottlesync import __version__
from bottlesync.bottle import LAYOUTS
from bottlesync.config import (
    TOKEN_VARIABLE,
    ConfigFile,
    Settings,
    from_network_env,
    load_config,
)
from bottlesync.deploy import render_section, stack_parameters
from bottlesync.errors import BottlesyncError, ConfigError, ManifestConflict, StorageError
from bottlesync.mirror import Progress
from bottlesync.plan import Plan
from bottlesync.storage import open_storage
from bottlesync.terminal import InertFormatter, inert
from bottlesync.upstream import Upstream

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_CONFIG = "config.yaml"
log = logging.getLogger("bottlesync")


class Parser(argparse.ArgumentParser):
    """argparse that exits 2 with our message format."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"bottlesync: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and flag of DESIGN §6."""
    parser = Parser(prog="bottlesync", description="Keep a verified Homebrew bottle mirror.")
    parser.add_argument("--version", action="version", version=f"bottlesync {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    sync = commands.add_parser("sync", help="mirror the wanted bottles that are not present")
    _common(sync)
    sync.add_argument("--source", help="catalogue URL or file (default: formulae.brew.sh)")
    sync.add_argument("--layout", choices=LAYOUTS)
    sync.add_argument("--tag", dest="tags", action="append", metavar="TAG",
                      help="platform tag (repeatable; default: the tags of config.yaml)")
    sync.add_argument("--formula", dest="formulae", action="append", metavar="NAME",
                      help="only this formula and its runtime dependencies (repeatable)")
    sync.add_argument("--seed-manifest", metavar="URI", help="s3:// or https:// manifest to dedup")
    sync.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    sync.add_argument("--quiet", action="store_true", help="print only failures")

    verify = commands.add_parser("verify", help="re-hash the mirror against its manifest")
    _common(verify)
    verify.add_argument("--source", help="catalogue to repair from")
    verify.add_argument("--repair", action="store_true", help="re-fetch missing/corrupt bottles")

    config = commands.add_parser("config", help="check or render config.yaml")
    actions = config.add_subparsers(dest="action", required=True, parser_class=Parser)
    validate = actions.add_parser("validate", help="validate config.yaml")
    validate.add_argument("--config", default=DEFAULT_CONFIG)
    validate.add_argument("--env")
    render = actions.add_parser("render", help="print samconfig.toml tables of an environment")
    render.add_argument("--config", default=DEFAULT_CONFIG)
    render.add_argument("--env", required=True)
    # serve, export, import and prune live in their own edge modules, imported only here
    from bottlesync import cli_airgap, cli_serve

    cli_serve.add_parser(commands)
    cli_airgap.add_parsers(commands, _common)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    """Flags shared by sync and verify."""
    parser.add_argument("--config", help=f"config file (default: ./{DEFAULT_CONFIG} if present)")
    parser.add_argument("--env", help="environment section of the config file")
    parser.add_argument("--dest", help="./dir, file:///abs or s3://bucket[/prefix]")
    parser.add_argument("--concurrency", type=int, metavar="N")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def resolve_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """config.yaml (if any), then the environment section, then flags, then the token variable."""
    path = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    if path is None and args.env:
        raise ConfigError(f"--env {args.env} needs a config file ({DEFAULT_CONFIG} not found)")
    settings = load_config(path).settings(args.env) if path else Settings()
    flags = {name: getattr(args, name, None) for name in
             ("source", "dest", "layout", "tags", "formulae", "concurrency", "seed_manifest")}
    settings = Settings.from_mapping({k: v for k, v in flags.items() if v is not None},
                                     "command line", base=settings)
    settings = from_network_env(settings, env, {"ca_bundle"} if settings.ca_bundle else ())
    if flags["tags"]:  # a tag asked for by name must exist; a configured one is only noted
        settings = replace(settings, strict_tags=True)
    if env.get(TOKEN_VARIABLE):
        settings = Settings.from_mapping({"registry_token": env[TOKEN_VARIABLE]}, TOKEN_VARIABLE,
                                         base=settings)
    return settings


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """Run a sync and print the report (JSON, or a human summary)."""
    from bottlesync.sync import run_sync  # the commands import what they use: a run stays lean
    from bottlesync.ui import print_plan, print_report

    interactive = sys.stderr.isatty() and not (args.json or args.quiet)
    bar = _progress_bar() if interactive else None

    def on_plan(plan: Plan) -> None:
        if args.dry_run and not args.json:
            print_plan(plan, sys.stdout)
        elif bar is not None and plan.items:
            bar.start(plan)

    started = time.monotonic()
    storage = open_storage(settings.dest)
    progress: Progress | None = bar
    try:
        with Upstream(settings) as upstream:
            report = run_sync(settings, storage=storage, upstream=upstream, dry_run=args.dry_run,
                              progress=progress, on_plan=on_plan)
    finally:
        if bar is not None:
            bar.stop()
    if args.json:
        print(json.dumps(report.to_json()))
        for note in report.notes:  # stdout holds the JSON object alone
            print(f"bottlesync: note: {note}", file=sys.stderr)
    elif args.quiet:
        for failure in report.failures:
            print(f"bottlesync: {inert(failure.bottle)}: {failure.error}: {inert(failure.message)}",
                  file=sys.stderr)
    elif not args.dry_run:
        print_report(report, storage.base, settings.layout, time.monotonic() - started, sys.stdout)
    return EXIT_OK if args.dry_run else report.exit_code


def _progress_bar() -> Any:
    """The terminal's progress bar; rich is imported only here, when there is a terminal."""
    from rich.console import Console

    from bottlesync.progress_bar import ProgressBar

    return ProgressBar(Console(stderr=True))


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Re-hash the mirror; with --repair re-fetch what is broken."""
    from bottlesync.ui import print_verify
    from bottlesync.verify import check_mirror, repair_mirror

    storage = open_storage(settings.dest)
    report = check_mirror(storage, settings.concurrency)
    if args.repair and (report.missing or report.corrupt):
        with Upstream(settings) as upstream:
            repair_mirror(storage, report, source=settings.source, upstream=upstream,
                          concurrency=settings.concurrency)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print_verify(report, storage.base, sys.stdout)
    return report.exit_code


def cmd_config(args: argparse.Namespace) -> int:
    """Validate config.yaml, or render one environment's samconfig tables."""
    config: ConfigFile = load_config(args.config)
    if args.action == "render":
        sys.stdout.write(render_section(config, args.env))
        return EXIT_OK
    envs = [args.env] if args.env else list(config.environments)
    config.settings()
    for env in envs:
        config.settings(env)
        stack_parameters(config, env)
    print(f"{args.config}: valid (environments: {', '.join(envs) or 'none'})")
    return EXIT_OK


def entry() -> None:
    """The console script: what it imported lives until exit, so the cyclic GC's passes skip
    it (gc.freeze: a no-op re-sync spent ~30 ms walking the imported modules), then main()."""
    gc.freeze()
    sys.exit(main())


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point: exit 0 all present, 1 some failed, 2 bad usage/config/catalogue."""
    args = build_parser().parse_args(argv)
    environ = os.environ if env is None else env
    stderr = logging.StreamHandler(sys.stderr)  # upstream text in warnings stays inert too
    stderr.setFormatter(InertFormatter("bottlesync: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[stderr])
    try:
        if args.command == "config":
            return cmd_config(args)
        if args.command == "serve":
            from bottlesync import cli_serve
            return cli_serve.run(args, environ)
        if args.command in ("export", "import", "prune"):
            from bottlesync.cli_airgap import run

            return run(args, environ)
        settings = resolve_settings(args, environ)
        if args.command == "verify":
            return cmd_verify(args, settings)
        return cmd_sync(args, settings)
    except BottlesyncError as exc:
        print(f"bottlesync: error: {inert(exc)}", file=sys.stderr)
        return EXIT_FAILED if _is_partial(exc) else EXIT_USAGE
    except KeyboardInterrupt:
        print("bottlesync: interrupted: re-run to finish (nothing unverified is visible)",
              file=sys.stderr)
        return 130


def _is_partial(exc: BottlesyncError) -> bool:
    """Errors after planning (storage, manifest commit) mean a partial run: exit 1, not 2."""
    return isinstance(exc, StorageError | ManifestConflict)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
