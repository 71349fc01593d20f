"""`python -m bottlesync` is the CLI."""

import sys

from bottlesync.cli import main

sys.exit(main())
