"""`python -m bottlesync.cli_deploy --env ENV --image URI`: the overrides `make deploy` passes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bottlesync.config import load_config
from bottlesync.deploy import deploy_overrides
from bottlesync.errors import ConfigError

EXIT_OK, EXIT_USAGE = 0, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Print the environment's parameter overrides with the image; exit 2 on a bad image/config."""
    parser = argparse.ArgumentParser(prog="python -m bottlesync.cli_deploy")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--env", required=True)
    parser.add_argument("--image", default="", help="<registry>/<repository>@sha256:<digest>")
    args = parser.parse_args(argv)
    try:
        print(deploy_overrides(load_config(args.config), args.env, args.image))
    except ConfigError as exc:
        print(f"bottlesync deploy: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
