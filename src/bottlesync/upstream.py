"""The one HTTP client: allowed hosts, safe redirects, pooled connections, retries, throttling."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from bottlesync import __version__
from bottlesync.config import Settings
from bottlesync.errors import NotModified, TransientUpstreamError, UpstreamError
from bottlesync.hosts import HostPolicy
from bottlesync.hosts import is_loopback as is_loopback  # re-exported: notify and tests use it
from bottlesync.hosts import safe_url as _safe
from bottlesync.pacing import small_requests
from bottlesync.throttle import RetryableUpstream, Throttle
from bottlesync.throttle import retry_after_seconds as retry_after_seconds  # re-exported
from bottlesync.transfer import Bounds, bounded

if TYPE_CHECKING:  # the HTTP client is imported by the first request (see Upstream.transport)
    from bottlesync.transport import Reply, Transport

ANONYMOUS_TOKEN = "QQ=="
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
CHUNK = 1 << 20
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_LIMIT = 8 << 20  # a real index is tens of KiB; anything huge is hostile


class Upstream:
    """HTTP access to the catalogue and the registry; one per run, shared by the worker threads."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.policy = HostPolicy.for_source(settings.source, settings.allowed_hosts,
                                            settings.registry_hosts)
        self.token = settings.registry_token
        self.clock = clock
        self.timeout = (settings.connect_timeout, settings.read_timeout)
        self.sleep = sleep
        self.throttle = Throttle(sleep=sleep)
        self._rng = rng or random.Random()
        self._transport = OnFirstUse(lambda: _transport_for(settings, self.timeout))

    @property
    def transport(self) -> Transport:
        """The HTTP client, made by the first request."""
        return self._transport.get()

    def close(self) -> None:
        """Release pooled connections (if a request ever made them)."""
        self._transport.close()

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- retries -------------------------------------------------------------------------
    def backoff(self, attempt: int, error: BaseException) -> float:
        """Delay before retry `attempt` (1-based): Retry-After if given (capped), else jitter."""
        cap = self.settings.max_retry_after
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            return min(float(asked), cap)
        return self._rng.uniform(0, min(cap, self.settings.backoff_base * 2 ** (attempt - 1)))

    def with_retries(self, call: Callable[[], Any], what: str) -> Any:
        """Run `call`, retrying TransientUpstreamError with backoff; the last error propagates."""
        attempts = self.settings.attempts
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except TransientUpstreamError as exc:
                if attempt == attempts:
                    raise TransientUpstreamError(f"{exc} (gave up after {attempts} attempts)"
                                                 ) from exc
                self.sleep(self.backoff(attempt, exc))
        raise AssertionError(f"{what}: unreachable")  # pragma: no cover

    # -- single requests -----------------------------------------------------------------
    @contextmanager
    def open(self, url: str, what: str, *, auth: bool = False, accept: str | None = None,
             conditions: Mapping[str, str] | None = None) -> Iterator[Reply]:
        """One GET (no retry) following allowed redirects; yields a streaming 200 response.

        The Authorization header goes only to the origin of `url`, never across a redirect
        to another scheme, host or port; a configured token only to a registry host, else the
        public anonymous token.
        """
        self.policy.check(url, what)  # a malformed URL is DisallowedURL before anything parses it
        origin = _origin(url)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            self.policy.check(current, what)
            headers = {"Accept-Encoding": "identity"}
            if accept:
                headers["Accept"] = accept
            headers.update(conditions or {})  # If-None-Match / If-Modified-Since (freshness.py)
            if auth and _origin(current) == origin:
                headers["Authorization"] = f"Bearer {self._token_for(current)}"
            response = self._send(current, headers, what)
            if response.status in REDIRECT_STATUS and "Location" in response.headers:
                current = urljoin(current, response.headers["Location"])
                response.release()  # the next hop may reuse the connection (same host)
                continue
            try:
                self._raise_for_status(response, current, what)
                yield response
            finally:
                response.close()
            return
        raise UpstreamError(f"{what}: more than {MAX_REDIRECTS} redirects from {_safe(url)}")

    def _token_for(self, url: str) -> str:
        """The configured token for a registry host, the anonymous one anywhere else."""
        if self.token and self.policy.may_carry_token(url):
            return self.token
        return ANONYMOUS_TOKEN

    def _send(self, url: str, headers: dict[str, str], what: str) -> Reply:
        """Send one request after the shared throttle; network failures become transient."""
        self.throttle.wait()
        transport = self.transport
        try:
            return transport.get(url, headers)
        except transport.errors as exc:  # no DNS (offline, typo): retrying only delays it
            if _unresolvable(exc, transport.unresolvable):
                raise UpstreamError(f"{what}: {_safe(url)}: cannot resolve the host "
                                    f"(offline or misspelt?)") from None
            raise RetryableUpstream(f"{what}: {_safe(url)}: {_reason(exc)}") from None

    def _raise_for_status(self, response: Reply, url: str, what: str) -> None:
        """Typed errors for non-200 answers; a 429 pauses every worker."""
        code = response.status
        if code == 200:
            return
        if code == 304:
            raise NotModified(f"{what}: {_safe(url)}: not modified")
        if code in TRANSIENT_STATUS:
            delay = retry_after_seconds(response.headers.get("Retry-After"))
            if delay is not None:
                delay = min(delay, self.settings.max_retry_after)
            if code == 429:
                self.throttle.pause(delay if delay is not None else self.backoff(1, Exception()))
            raise RetryableUpstream(f"{what}: {_safe(url)}: HTTP {code}", retry_after=delay)
        raise UpstreamError(f"{what}: {_safe(url)}: HTTP {code}")

    # -- conveniences --------------------------------------------------------------------
    def chunks(self, response: Reply, what: str) -> Iterator[bytes]:
        """The raw body (no decoding) in 1 MiB chunks; short or broken bodies become transient."""
        try:  # read1: a trickle yields what came, so the low-speed check runs between reads
            while chunk := response.read1(CHUNK):
                yield chunk
        except self.transport.errors as exc:
            raise RetryableUpstream(f"{what}: {_safe(response.url)}: {_reason(exc)}") from None

    def body(self, response: Reply, what: str, size: int | None) -> Iterator[bytes]:
        """The body within its bounds: announced size (or max_bottle_size), speed, deadline."""
        bounds = Bounds.for_size(self.settings, size)
        return bounded(self.chunks(response, what), bounds, what, self.clock)

    def get_bytes(self, url: str, what: str, *, auth: bool = False, accept: str | None = None,
                  limit: int = 512 << 20) -> bytes:
        """A whole (bounded) body, with retries."""
        def call() -> bytes:
            with self.open(url, what, auth=auth, accept=accept) as response:
                return self.read_all(response, what, url, limit)
        result: bytes = self.with_retries(call, what)
        return result

    def read_all(self, response: Reply, what: str, url: str, limit: int) -> bytes:
        """A whole small body (catalogue, index, manifest) within `limit` bytes and the
        low-speed bounds: a trickling or endless answer fails instead of hanging the run."""
        bounds = Bounds(limit, self.settings.low_speed_limit, self.settings.low_speed_time, None)
        data = bytearray()
        for chunk in bounded(self.chunks(response, what), bounds, f"{what}: {_safe(url)}",
                             self.clock):
            data += chunk
        return bytes(data)

    def get_json(self, url: str, what: str, *, auth: bool = False,
                 accept: str | None = None) -> Any:
        """A JSON document, with retries; a body that is not JSON is an UpstreamError."""
        data = self.get_bytes(url, what, auth=auth, accept=accept)
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise UpstreamError(f"{what}: {_safe(url)} is not JSON: {exc}") from None

    def oci_index(self, root_url: str, image: str, version_rebuild: str) -> bytes:
        """The raw OCI image index of a formula version (what brew asks a mirror for, too)."""
        url = f"{root_url}/{image}/manifests/{version_rebuild}"
        return self.get_bytes(url, f"OCI index of {image}", auth=True, accept=OCI_INDEX,
                              limit=INDEX_LIMIT)

    def bottle_sizes(self, root_url: str, image: str, version_rebuild: str,
                     refs: dict[str, str]) -> dict[str, int]:
        """Sizes from the OCI image index: `refs` maps ref.name -> tag; returns tag -> bytes."""
        return index_sizes(self.oci_index(root_url, image, version_rebuild), refs,
                           f"OCI index {_safe(f'{root_url}/{image}/manifests/{version_rebuild}')}")


class OnFirstUse:
    """The transport, made when first asked for: a run that reads a local catalogue and has
    nothing to fetch never imports the HTTP client (nor requests). Worker threads may ask at
    once."""

    def __init__(self, make: Callable[[], Transport]) -> None:
        self._make, self._lock = make, threading.Lock()
        self._made: Transport | None = None

    def get(self) -> Transport:
        """The transport, made on the first call."""
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return self._made

    def close(self) -> None:
        """Close it if it was made."""
        if self._made is not None:
            self._made.close()


def _transport_for(settings: Settings, timeout: tuple[float, float]) -> Transport:
    """The lean transport, or requests' when the settings trust the environment."""
    from bottlesync.transport import transport_for

    return transport_for(settings.trust_env, small_requests(settings.concurrency), timeout,
                         f"bottlesync/{__version__}", settings.ca_bundle)


def parse_index(data: bytes, what: str) -> dict[str, Any]:
    """An OCI image index from untrusted bytes; UpstreamError unless it has the index shape."""
    try:
        index = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise UpstreamError(f"{what} is not JSON: {exc}") from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise UpstreamError(f"{what} is not an OCI image index (no manifests list)")
    return index


def index_sizes(data: bytes, refs: dict[str, str], what: str) -> dict[str, int]:
    """tag -> `sh.brew.bottle.size` for the manifests whose ref.name is in `refs`."""
    sizes: dict[str, int] = {}
    for manifest in parse_index(data, what)["manifests"]:
        annotations = manifest.get("annotations") if isinstance(manifest, dict) else None
        if not isinstance(annotations, dict):
            continue
        tag = refs.get(str(annotations.get("org.opencontainers.image.ref.name")))
        size = str(annotations.get("sh.brew.bottle.size", ""))
        if tag is not None and size.isdigit() and len(size) < 16:
            sizes[tag] = int(size)
    return sizes


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port): what must match for a credential to travel."""
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what caused it (urllib3's `.reason` under requests, then
    __cause__/__context__)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return
        yield seen
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else (seen.__cause__ or seen.__context__)


def _unresolvable(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """True when the failure (or a cause) is one of the transport's failed DNS lookups."""
    return any(isinstance(seen, kinds) for seen in _causes(exc))


def _reason(exc: BaseException) -> str:
    """A short, secret-free description of a network failure, naming the OS cause if any."""
    name = type(exc).__name__
    text = str(exc).split("(Caused by", 1)[0]
    if "?" in text:  # a signed URL may appear in the message: drop its query
        text = text.split("?", 1)[0]
    root = next((seen.strerror for seen in _causes(exc)
                 if isinstance(seen, OSError) and seen.strerror), None)
    cause = f" ({root})" if root else ""
    return f"{name}: {text.strip()}{cause}"[:300]
