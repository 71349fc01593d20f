"""Fake Slack incoming webhook: a real HTTP server that answers as hooks.slack.com does."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

WEBHOOK_PATH = "/services/T000/B000/XXXXXXXX"
_FAULT_BODIES = {429: "rate_limited", 500: "internal_error", 503: "service_unavailable"}


class _Server(ThreadingHTTPServer):
    """Threading server that knows its FakeSlack."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, fake: FakeSlack) -> None:
        """Bind to an ephemeral port on 127.0.0.1."""
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that hang up are not our problem."""


class _Handler(BaseHTTPRequestHandler):
    """Webhook handler."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def version_string(self) -> str:
        """Server header."""
        return "fake-slack"

    def do_POST(self) -> None:
        """Accept a webhook message."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        status, text, headers = self.server.fake._post(self.path, dict(self.headers.items()), body)
        self._reply(status, text, headers)

    def do_GET(self) -> None:
        """Webhooks only take POST."""
        known = self.path.split("?")[0] == WEBHOOK_PATH
        self._reply(400 if known else 404, "invalid_payload" if known else "no_service", [])

    def _reply(self, status: int, text: str, headers: list[tuple[str, str]]) -> None:
        """Send a small text/plain answer, as Slack does."""
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _parse_payload(headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
    """The message of a JSON body (or of a form field `payload=`), None when invalid."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    try:
        text = body.decode()
        if content_type.startswith("application/x-www-form-urlencoded"):
            text = parse_qs(text).get("payload", [""])[0]
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


BLOCK_TYPES = frozenset({"section", "context", "divider", "header", "actions", "image"})
TEXT_TYPES = frozenset({"mrkdwn", "plain_text"})


def _valid_text(obj: Any, limit: int) -> bool:
    """A Block Kit text object within Slack's length limit."""
    return (isinstance(obj, dict) and obj.get("type") in TEXT_TYPES
            and isinstance(obj.get("text"), str) and 0 < len(obj["text"]) <= limit)


def _valid_blocks(blocks: Any) -> bool:
    """What Slack checks before it answers invalid_blocks: at most 50 blocks of known types,
    section text <= 3000 characters, <= 10 fields of <= 2000, context <= 10 elements."""
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return False
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            return False
        if block["type"] == "section":
            text_ok = "text" not in block or _valid_text(block["text"], 3000)
            items = block.get("fields", [])
            if not text_ok or not isinstance(items, list) or len(items) > 10 or not all(
                    _valid_text(f, 2000) for f in items) or not ("text" in block or items):
                return False
        if block["type"] == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10 or not all(
                    _valid_text(e, 3000) for e in elements):
                return False
    return True


class FakeSlack:
    """A real HTTP fake of a Slack incoming webhook, with status faults."""

    def __init__(self) -> None:
        """Nothing listens until start()."""
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._faults: list[tuple[int, int, str | None]] = []
        self.webhook_url = ""
        self.messages: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.attempts = 0

    def __enter__(self) -> FakeSlack:
        """Start and return self."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop."""
        self.stop()

    def start(self) -> FakeSlack:
        """Bind and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeSlack already started")
        self._server = _Server(self)
        port = self._server.server_address[1]
        self.webhook_url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-slack",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is None:
            return
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._server.server_close()
        self._server = None
        self._thread = None

    def fault_status(self, code: int, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `times` webhook POSTs (-1: all) with `code` (e.g. 429, 500)."""
        if times == 0 or times < -1:
            raise ValueError(f"times must be >= 1 or -1, not {times}")
        with self._lock:
            self._faults.append((code, times, retry_after))

    def clear_faults(self) -> None:
        """Forget pending faults."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self) -> tuple[int, str | None] | None:
        """Consume one pending fault, if any."""
        with self._lock:
            if not self._faults:
                return None
            code, times, retry_after = self._faults[0]
            if times > 0:
                if times == 1:
                    self._faults.pop(0)
                else:
                    self._faults[0] = (code, times - 1, retry_after)
            return code, retry_after

    def _post(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]]]:
        """Decide the answer to one POST and record accepted messages."""
        if path.split("?")[0] != WEBHOOK_PATH:
            return 404, "no_service", []
        with self._lock:
            self.attempts += 1
        fault = self._take_fault()
        if fault is not None:
            code, retry_after = fault
            extra = [("Retry-After", retry_after)] if retry_after is not None else []
            return code, _FAULT_BODIES.get(code, "error"), extra
        message = _parse_payload(headers, body)
        if message is None:
            return 400, "invalid_payload", []
        if not any(message.get(k) for k in ("text", "blocks", "attachments")):
            return 400, "no_text", []
        if "blocks" in message and not _valid_blocks(message["blocks"]):
            return 400, "invalid_blocks", []
        with self._lock:
            self.messages.append(message)
            self.headers.append(headers)
        return 200, "ok", []
