"""Post one line to the Slack incoming webhook in SLACK_WEBHOOK_URL (CI's deploy result).

The URL is a secret: only ever sent to hooks.slack.com, never printed. No URL: nothing sent.
A failed post is a warning: the deploy's own result stands.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from urllib.parse import urlsplit

SLACK_HOST = "hooks.slack.com"


def main(argv: list[str]) -> int:
    """Send argv's words as the message; exit 0 unless called wrongly."""
    if not argv:
        print("usage: notify_slack.py MESSAGE...", file=sys.stderr)
        return 2
    url = os.environ.get("SLACK_WEBHOOK_URL", "")
    if not url:
        print("notify-slack: no SLACK_WEBHOOK_URL, nothing sent", file=sys.stderr)
        return 0
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname != SLACK_HOST:
        print(f"notify-slack: SLACK_WEBHOOK_URL is not an https://{SLACK_HOST}/ URL, nothing sent",
              file=sys.stderr)
        return 0
    body = json.dumps({"text": " ".join(argv)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        # https to Slack's host only (checked above)
        with urllib.request.urlopen(request, timeout=15):  # nosec B310
            pass
    except OSError as exc:
        print(f"notify-slack: WARNING: post failed ({type(exc).__name__})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
