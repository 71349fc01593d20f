"""`python -m bottlesync.batch`: the Fargate task. Mirrors a run's plan in chunks, like the Map."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bottlesync.bottle import PlanItem
from bottlesync.config import Settings
from bottlesync.errors import BottlesyncError, ConfigError, InvalidInput
from bottlesync.events import HandlerConfig, bucket_key
from bottlesync.messages import progress_message
from bottlesync.mirror import mirror_items
from bottlesync.notify import Notifier
from bottlesync.plan import check_run_id, plan_key, read_items
from bottlesync.registry_secret import with_registry_token
from bottlesync.storage import Storage, open_storage
from bottlesync.upstream import Upstream

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
log = logging.getLogger("bottlesync.batch")


def build_parser(config: HandlerConfig) -> argparse.ArgumentParser:
    """Chunking and heartbeat knobs; everything else comes from the environment."""
    parser = argparse.ArgumentParser(prog="python -m bottlesync.batch",
                                     description="Mirror a planned run (the Fargate route).")
    parser.add_argument("--chunk-items", type=int, default=config.max_items_per_batch,
                        help="plan items per chunk, one result fragment each")
    parser.add_argument("--progress-every", type=int, default=10, metavar="K",
                        help="post a Slack progress message every K chunks")
    parser.add_argument("--progress-minutes", type=float, default=15.0, metavar="T",
                        help="... or when T minutes passed since the last one")
    return parser


def chunked(items: Sequence[PlanItem], size: int) -> list[Sequence[PlanItem]]:
    """Consecutive chunks of at most `size` items."""
    return [items[i:i + size] for i in range(0, len(items), size)]


class Heartbeat:
    """Decides when a progress message is due: every K chunks or every T minutes."""

    def __init__(self, every: int, minutes: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.seconds = minutes * 60
        self.clock = clock
        self.since = 0
        self.last = clock()

    def due(self) -> bool:
        """Count one finished chunk; True when a message should go out now."""
        self.since += 1
        if self.since >= self.every or self.clock() - self.last >= self.seconds:
            self.since, self.last = 0, self.clock()
            return True
        return False


def load_run(env: Mapping[str, str], storage: Storage) -> tuple[str, list[PlanItem]]:
    """The run id and plan items the state machine named; InvalidInput when they disagree."""
    run_id = check_run_id(env.get("BOTTLESYNC_RUN_ID"), "BOTTLESYNC_RUN_ID")
    given = env.get("BOTTLESYNC_PLAN_KEY")
    if given not in (plan_key(run_id), bucket_key(storage, plan_key(run_id))):
        raise InvalidInput(f"BOTTLESYNC_PLAN_KEY={given!r} is not the plan of run {run_id}")
    return run_id, read_items(storage, run_id)


def run(args: argparse.Namespace, settings: Settings, env: Mapping[str, str],
        notifier: Notifier) -> int:
    """Mirror every chunk (one fragment each) and post progress; bottle failures are results."""
    storage = open_storage(settings.dest)
    run_id, items = load_run(env, storage)
    chunks = chunked(items, args.chunk_items)
    heartbeat = Heartbeat(args.progress_every, args.progress_minutes)
    counts = {"mirrored": 0, "failed": 0, "bytes": 0}
    with Upstream(settings) as upstream:
        for number, chunk in enumerate(chunks, start=1):
            report = mirror_items(chunk, storage=storage, upstream=upstream, run_id=run_id,
                                  concurrency=settings.concurrency).to_event()
            for name in counts:
                counts[name] += report[name]
            log.info("chunk %d/%d: %s", number, len(chunks), report)
            if heartbeat.due() and number < len(chunks):
                notifier.slack(progress_message(run_id, number, len(chunks), counts))
    print(f"bottlesync.batch: run {run_id}: {len(chunks)} chunks, mirrored {counts['mirrored']}, "
          f"failed {counts['failed']}, {counts['bytes']} bytes")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Exit 0 when the run was mirrored (failures are in the fragments), 2 on bad input, 1 else."""
    environ = os.environ if env is None else env
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="bottlesync.batch: %(levelname)s: %(message)s")
    try:
        config = HandlerConfig.from_env(environ)
        args = build_parser(config).parse_args(argv)
        if args.chunk_items < 1 or args.progress_every < 1:
            raise ConfigError("--chunk-items and --progress-every must be >= 1")
        settings = with_registry_token(Settings.from_env(environ), environ, _secrets_client)
        return run(args, settings, environ, Notifier.from_config(config))
    except (ConfigError, InvalidInput) as exc:
        print(f"bottlesync.batch: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BottlesyncError as exc:
        print(f"bottlesync.batch: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _secrets_client() -> Any:
    """A Secrets Manager client, made only when a registry token secret is configured."""
    import boto3

    return boto3.client("secretsmanager")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
