"""One GET on the wire, and nothing more: no redirects, retries, netrc, cookies or env proxies.

Upstream decides where a request may go and with which credential; a transport only sends it.
The lean one is wire.Pool, a small HTTP/1.1 client: requests' per-request work (merging
session settings, hooks, cookie jars, re-reading the environment) and then urllib3's and
http.client's were most of the CPU of a small bottle. Only when the edge saw proxy variables
(Settings.trust_env) does a requests.Session send, because requests knows how to honour them;
a CA bundle alone goes to the lean one's TLS context (Settings.ca_bundle).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bottlesync.wire import Pool, WireError

if TYPE_CHECKING:
    from requests import PreparedRequest

NETWORK_ERRORS: tuple[type[BaseException], ...] = (WireError, OSError)  # ssl's and requests'
# errors are OSErrors; EnvTransport turns urllib3's read errors into WireError
DRAIN_LIMIT = 64 << 10  # a redirect's body worth reading to keep its connection; more: drop it
DRAIN_SECONDS = 1.0  # a redirect body still trickling after this: drop the connection instead


class Body(Protocol):
    """What a transport answers with: status, headers, the body's raw bytes, a close."""

    @property
    def status(self) -> int:
        """The HTTP status code."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive response headers."""

    def read1(self, amount: int) -> bytes:
        """What has arrived, up to `amount` bytes, undecoded (b"" at the end)."""

    def close(self) -> None:
        """Keep a connection whose body was read to its end; close any other."""


class Reply:
    """A streaming answer, and the URL it came from."""

    def __init__(self, raw: Body, url: str) -> None:
        self.raw = raw
        self.url = url
        self.status = raw.status
        self.headers = raw.headers

    def read1(self, amount: int) -> bytes:
        """What has arrived, up to `amount` bytes, undecoded (b"" at the end)."""
        return self.raw.read1(amount)

    def release(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Keep the connection for the next request after a small (redirect) body that arrives
        promptly; drop it after DRAIN_LIMIT bytes, DRAIN_SECONDS or a network error."""
        deadline, left = clock() + DRAIN_SECONDS, DRAIN_LIMIT
        try:
            while left > 0 and clock() < deadline and (chunk := self.read1(left)):
                left -= len(chunk)
        except NETWORK_ERRORS:
            pass  # the next hop opens a fresh connection; this one is closed below
        self.close()

    def close(self) -> None:
        """Return a fully read connection to the pool; close one whose body was not read."""
        self.raw.close()


class Transport(Protocol):
    """Sends one GET and returns the streaming answer, whatever its status."""

    errors: tuple[type[BaseException], ...]  # what a failed exchange raises (get or a read)
    unresolvable: tuple[type[BaseException], ...]  # what a failed DNS lookup raises
    pool_size: int  # idle connections kept per host: at least the workers sharing it

    def get(self, url: str, headers: dict[str, str]) -> Reply:
        """One request, no redirect followed; network failures raise as the library raises them."""

    def close(self) -> None:
        """Release pooled connections."""


class LeanTransport:
    """wire.Pool: per-request cost is the HTTP exchange itself."""

    errors = NETWORK_ERRORS
    unresolvable: tuple[type[BaseException], ...] = (socket.gaierror,)

    def __init__(self, pool_size: int, timeout: tuple[float, float], user_agent: str,
                 ca_bundle: str | None = None) -> None:
        self.pool_size = pool_size
        self._tls: ssl.SSLContext | None = None
        self._ca_bundle = ca_bundle
        self._pool = Pool(pool_size, timeout[0], timeout[1], self._context)
        self._base = {"User-Agent": user_agent, "Accept": "*/*", "Connection": "keep-alive"}

    def get(self, url: str, headers: dict[str, str]) -> Reply:
        """One GET on a pooled connection."""
        return Reply(self._pool.get(url, {**self._base, **headers}), url)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()

    def _context(self) -> ssl.SSLContext:
        """The TLS context, made by the first https connection: the configured CA bundle, else
        certifi's (as requests would use), certificates and host names always verified."""
        if self._tls is None:
            import certifi

            context = ssl.create_default_context(cafile=self._ca_bundle or certifi.where())
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls


class EnvTransport:
    """requests.Session with trust_env: proxies, NO_PROXY and CA bundles from the environment."""

    errors = NETWORK_ERRORS  # requests' own errors are OSErrors

    def __init__(self, pool_size: int, timeout: tuple[float, float], user_agent: str,
                 ca_bundle: str | None = None) -> None:
        import requests  # only runs that trust the environment pay for importing requests
        import urllib3.exceptions
        from requests.adapters import HTTPAdapter

        self.pool_size = pool_size
        self.unresolvable: tuple[type[BaseException], ...] = (
            urllib3.exceptions.NameResolutionError, socket.gaierror)
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = user_agent
        self._session.trust_env = True
        if ca_bundle:  # configured: beats the variables requests would read
            self._session.verify = ca_bundle
        self._session.auth = _no_netrc  # credentials come from us alone, never from ~/.netrc
        self._timeout = timeout

    def get(self, url: str, headers: dict[str, str]) -> Reply:
        """One GET through the session (its proxies and CA bundle)."""
        response = self._session.get(url, headers=headers, timeout=self._timeout, stream=True,
                                     allow_redirects=False)
        return Reply(_Urllib3Body(response.raw), url)

    def close(self) -> None:
        """Close the session's pools."""
        self._session.close()


class _Urllib3Body:
    """requests' raw urllib3 response as a Body: its read errors become WireError."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.status: int = raw.status
        self.headers: Mapping[str, str] = raw.headers

    def read1(self, amount: int) -> bytes:
        """Undecoded bytes; urllib3's protocol and timeout errors as WireError."""
        import urllib3.exceptions

        try:
            data: bytes = self._raw.read1(amount, decode_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise WireError(str(exc)) from exc
        return data

    def close(self) -> None:
        """Return a fully read connection to the pool; close one whose body was not read."""
        self._raw.close()
        self._raw.release_conn()


def transport_for(trust_env: bool, pool_size: int, timeout: tuple[float, float],
                  user_agent: str, ca_bundle: str | None = None) -> Transport:
    """The lean transport, or the environment-aware one when the edge saw proxy variables."""
    kind = EnvTransport if trust_env else LeanTransport
    return kind(pool_size, timeout, user_agent, ca_bundle)


def _no_netrc(request: PreparedRequest) -> PreparedRequest:
    """A session auth that adds nothing: its presence stops requests from reading ~/.netrc."""
    return request
