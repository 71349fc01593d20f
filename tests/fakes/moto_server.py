"""moto in server mode with S3's conditional writes made atomic, as they are on real S3.

moto 5.2 checks `If-Match`/`If-None-Match` and then writes, with no lock between the two, while its
server handles requests on many threads: two PUTs carrying the same ETag can both succeed. Real S3
decides each conditional write atomically (412/409 for the loser). Concurrency tests must test our
compare-and-swap, not moto's race, so the harness serialises moto's object writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any
from unittest import mock

from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer


def _serialised(method: Callable[..., Any], lock: threading.Lock) -> Callable[..., Any]:
    """The same moto handler, run under one lock."""

    @wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(self, *args, **kwargs)

    return locked


@contextmanager
def moto_server(port: int = 0) -> Iterator[str]:
    """A ThreadedMotoServer on loopback whose conditional writes are atomic; yields its URL."""
    lock = threading.Lock()
    with mock.patch.object(S3Response, "put_object",
                           _serialised(S3Response.put_object, lock)):
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, bound = server.get_host_and_port()
        try:
            yield f"http://{host}:{bound}"
        finally:
            server.stop()
