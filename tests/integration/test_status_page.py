"""The status page after real syncs: status.json agrees with the run records; Chromium renders
index.html (which has no script) with no request leaving the machine."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import threading
from contextlib import ExitStack
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bottlesync.records import RECORD_KEY_RE
from bottlesync.status_page import COLOURS

CHROMIUM = shutil.which("chromium") or "chromium"  # Debian's package; .ci/run installs it
PUBLIC_URL = "https://brew-mirror.corp.test/homebrew"
# Chromium's own background calls (clock, component updates): never the page's, and refused by
# the proxy anyway; anything else in the net log must be the page's file itself
BROWSER_SERVICE = re.compile(r"https?://[a-z0-9.-]+\.(?:google\.com|googleapis\.com|gvt1\.com)/")
BROWSER_TIMEOUT = 180  # a loaded 2-core CI machine starts Chromium slowly


def records(root: Path) -> list[dict[str, object]]:
    """The dated run records, oldest first."""
    keys = sorted(p.relative_to(root).as_posix() for p in (root / "runs").rglob("*.json"))
    return [json.loads((root / k).read_text()) for k in keys if RECORD_KEY_RE.fullmatch(k)]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium, every proxied request refused, network logged (the page has no script
    to switch off: the test checks its source; --blink-settings=scriptEnabled=false also stops
    --dump-dom and --screenshot from producing anything)."""
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=http://127.0.0.1:9", "--disable-features=NetworkTimeServiceQuerying",
         f"--user-data-dir={profile}", f"--log-net-log={profile}.netlog.json", *args],
        capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False)


def test_status_json_matches_the_run_records(cli, tmp_path: Path) -> None:
    """GIVEN two syncs (the second adds nothing) THEN status.json lists both runs with their
    counts and bytes, the last run is the second, and the state is green."""
    assert cli("sync", "--formula", "jq", public_url=PUBLIC_URL).code == 0
    assert cli("sync", public_url=PUBLIC_URL).code == 0
    root = tmp_path / "mirror"
    status = json.loads((root / "status.json").read_text())
    runs = records(root)
    assert [(r["run_id"], r["mirrored"], r["bytes"], r["failed"]) for r in status["runs"]] == [
        (r["run_id"], r["mirrored"], r["bytes"], r["failed"]) for r in runs]
    assert status["last_run"]["run_id"] == runs[-1]["run_id"]
    assert status["last_good_sync"] == runs[-1]["finished_at"]
    assert status["bottles"] == sum(int(str(r["mirrored"])) for r in runs) == 13
    assert status["state"] == "green" and status["public_url"] == PUBLIC_URL


def serve(root: Path, stack: ExitStack) -> str:
    """A static web server on loopback over the mirror directory (as S3 or `serve` would be)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output clean."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_page_renders_in_headless_chromium_without_javascript_or_network(
    cli, tmp_path: Path
) -> None:
    """GIVEN a synced mirror WHEN Chromium opens index.html THEN the rendered DOM shows the
    state, the last sync time and the client settings; a screenshot is taken; the page names
    no external asset and Chromium requested nothing but the file itself."""
    assert cli("sync", public_url=PUBLIC_URL).code == 0
    with ExitStack() as stack:
        check_page(tmp_path, tmp_path / "mirror", stack)


def check_page(tmp_path: Path, root: Path, stack: ExitStack) -> None:
    """The Chromium checks of the test above, with the page served from `root`."""
    page = root / "index.html"
    source = page.read_text()
    assert not re.search(r"<(script|link|img|iframe)|@import|url\(|(src|href)=\"?https?:", source)
    status = json.loads((root / "status.json").read_text())

    url = serve(root, stack) + "/index.html"
    dom = chromium(tmp_path / "p1", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r'id="state" data-state="green" style="background:'
                     + COLOURS["green"], dom.stdout)
    assert f'<time id="last-sync">{status["last_good_sync"]}</time>' in dom.stdout
    assert f"export HOMEBREW_BOTTLE_DOMAIN={PUBLIC_URL}/bottles" in dom.stdout
    assert "<svg" in dom.stdout and "Bottles added per run" in dom.stdout

    shot = Path(os.environ.get("STATUS_SCREENSHOT", tmp_path / "status.png"))  # to look at
    done = chromium(tmp_path / "p2", f"--screenshot={shot}", "--window-size=1280,800",
                    "--hide-scrollbars", url)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 800)
    assert len(data) > 10_000  # a rendered page, not a blank one

    for log in (tmp_path / "p1.netlog.json", tmp_path / "p2.netlog.json"):
        urls = set(re.findall(r'"url":"([^"]+)"', log.read_text(errors="replace")))
        page_urls = {u for u in urls if not BROWSER_SERVICE.match(u)}
        assert url in page_urls and all(u.startswith(url.rsplit("/", 1)[0] + "/")
                                        for u in page_urls), sorted(page_urls)
