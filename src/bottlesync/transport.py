"""One GET on the wire, and nothing more: no redirects, retries, netrc, cookies or env proxies.

Upstream decides where a request may go and with which credential; a transport only sends it.
The lean one drives urllib3 directly: requests' per-request work (merging session settings,
hooks, cookie jars, re-reading the environment) was a third of the CPU of a small bottle. Only
when the edge saw proxy variables (Settings.trust_env) does a requests.Session send, because
requests knows how to honour them; a CA bundle alone is handed to the pool (Settings.ca_bundle).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import certifi
import urllib3
import urllib3.exceptions

if TYPE_CHECKING:
    from requests import PreparedRequest

NETWORK_ERRORS: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, OSError)
UNRESOLVABLE: tuple[type[BaseException], ...] = (urllib3.exceptions.NameResolutionError,
                                                 socket.gaierror)
DRAIN_LIMIT = 64 << 10  # a redirect's body worth reading to keep its connection; more: drop it
DRAIN_SECONDS = 1.0  # a redirect body still trickling after this: drop the connection instead


class Reply:
    """A streaming answer: status, headers, the body's raw bytes, and the URL it came from."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str) -> None:
        self.raw = raw
        self.url = url

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self.raw.status

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive response headers."""
        return self.raw.headers

    def read1(self, amount: int) -> bytes:
        """What has arrived, up to `amount` bytes, undecoded (b"" at the end)."""
        return self.raw.read1(amount, decode_content=False)

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
        self.raw.release_conn()


class Transport(Protocol):
    """Sends one GET and returns the streaming answer, whatever its status."""

    errors: tuple[type[BaseException], ...]  # what a failed exchange raises (get or a read)
    unresolvable: tuple[type[BaseException], ...]  # what a failed DNS lookup raises

    def get(self, url: str, headers: dict[str, str]) -> Reply:
        """One request, no redirect followed; network failures raise as the library raises them."""

    def close(self) -> None:
        """Release pooled connections."""

    def get_adapter(self, url: str) -> Any:
        """What holds the connection pool for `url` (requests.Session's name for it)."""


class LeanTransport:
    """urllib3's pool directly: per-request cost is the HTTP exchange itself."""

    errors, unresolvable = NETWORK_ERRORS, UNRESOLVABLE

    def __init__(self, pool_size: int, timeout: tuple[float, float], user_agent: str,
                 ca_bundle: str | None = None) -> None:
        self.poolmanager = urllib3.PoolManager(num_pools=8, maxsize=pool_size, block=False,
                                         retries=False, ca_certs=ca_bundle or certifi.where())
        self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self._base = {"User-Agent": user_agent, "Accept": "*/*", "Connection": "keep-alive"}

    def get(self, url: str, headers: dict[str, str]) -> Reply:
        """One GET on a pooled connection."""
        raw = self.poolmanager.request("GET", url, headers={**self._base, **headers},
                                       redirect=False, retries=False, preload_content=False,
                                       decode_content=False, timeout=self._timeout)
        return Reply(raw, url)

    def close(self) -> None:
        """Close every pooled connection."""
        self.poolmanager.clear()

    def get_adapter(self, url: str) -> LeanTransport:
        """Itself: one PoolManager serves every host (`poolmanager`, as on requests' adapter)."""
        return self


class EnvTransport:
    """requests.Session with trust_env: proxies, NO_PROXY and CA bundles from the environment."""

    errors, unresolvable = NETWORK_ERRORS, UNRESOLVABLE  # requests' own errors are OSErrors

    def __init__(self, pool_size: int, timeout: tuple[float, float], user_agent: str,
                 ca_bundle: str | None = None) -> None:
        import requests  # only runs that trust the environment pay for importing requests
        from requests.adapters import HTTPAdapter

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
        return Reply(response.raw, url)

    def close(self) -> None:
        """Close the session's pools."""
        self._session.close()

    def get_adapter(self, url: str) -> Any:
        """The session's adapter for `url`."""
        return self._session.get_adapter(url)


def transport_for(trust_env: bool, pool_size: int, timeout: tuple[float, float],
                  user_agent: str, ca_bundle: str | None = None) -> Transport:
    """The lean transport, or the environment-aware one when the edge saw proxy variables."""
    kind = EnvTransport if trust_env else LeanTransport
    return kind(pool_size, timeout, user_agent, ca_bundle)


def _no_netrc(request: PreparedRequest) -> PreparedRequest:
    """A session auth that adds nothing: its presence stops requests from reading ~/.netrc."""
    return request
