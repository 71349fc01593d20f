"""Which URLs we may fetch and where a credential may travel: checks on untrusted URLs."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from bottlesync.errors import DisallowedURL

DEFAULT_HOSTS = ("ghcr.io", "pkg-containers.githubusercontent.com")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_URL_CHAR_RE = re.compile(r"[!-~]+")  # printable ASCII, no space


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (cached: a run meets a handful of hosts)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why an untrusted http(s) URL is malformed or names an odd host, or None when it is fine.

    Odd: anything urllib.parse rejects, non-ASCII (full-width, IDN), punycode, a port that is no
    port, and an IPv4 address in another form than canonical dotted decimal (2130706433, 0177.1).
    """
    if not isinstance(url, str) or not _URL_CHAR_RE.fullmatch(url):
        return "is not printable ASCII"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        return f"cannot be parsed ({exc})"
    if parts.scheme not in ("http", "https") or not host:
        return "is not an http(s) URL with a host"
    if port == 0:
        return "names port 0"
    return host_problem(host, parts)


def host_problem(host: str, parts: SplitResult) -> str | None:
    """Why a parsed host is odd (see url_problem), or None."""
    return _host_problem(host, parts.netloc.rpartition("@")[2].startswith("["))


@functools.lru_cache(maxsize=256)
def _host_problem(host: str, bracketed: bool) -> str | None:
    """host_problem by host name (cached: every bottle URL names one of a few hosts)."""
    if bracketed:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            return f"host {host!r} is not an IPv6 address"
        return f"host {host!r} has an IPv6 zone" if address.scope_id else None
    labels = host.split(".")
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):  # WHATWG: a numeric last label means IPv4
        try:
            canonical = str(ipaddress.IPv4Address(host))
        except ValueError:
            canonical = ""
        return None if canonical == host else f"host {host!r} is not a dotted-decimal IPv4 address"
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        return f"host {host!r} is not a plain ASCII host name"
    if any(label.startswith("xn--") for label in labels):
        return f"host {host!r} is an internationalised (punycode) name"
    return None


def safe_url(url: str) -> str:
    """The URL without query or userinfo, for messages (signed URLs carry secrets)."""
    try:
        p = urlsplit(url)
        port = f":{p.port}" if p.port else ""
    except ValueError:
        return "<malformed URL>"
    return f"{p.scheme}://{p.hostname or ''}{port}{p.path}"


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts a URL may name (https; plain http and loopback only for a loopback source),
    and which hosts a configured registry token may reach."""

    hosts: frozenset[str]
    loopback: bool = False
    registry: frozenset[str] = frozenset({"ghcr.io"})

    @classmethod
    def for_source(cls, source: str, extra: Iterable[str] = (),
                   registry: Iterable[str] = ("ghcr.io",)) -> HostPolicy:
        """The source's host, the registry hosts, and the configured extras."""
        try:
            source_host = urlsplit(source).hostname if "://" in source else None
        except ValueError:
            source_host = None
        registry_hosts = frozenset(h.lower() for h in registry)
        hosts = {*DEFAULT_HOSTS, *(h.lower() for h in extra),
                 *(h.rpartition(":")[0] or h for h in registry_hosts)}
        loopback = source_host is not None and is_loopback(source_host.lower())
        if source_host:
            hosts.add(source_host.lower())
        return cls(frozenset(hosts), loopback, registry_hosts)

    def check(self, url: str, what: str) -> None:
        """Raise DisallowedURL naming `what` unless the URL is allowed."""
        problem = url_problem(url)
        if problem is not None:
            raise DisallowedURL(f"{what}: {safe_url(url)!r} {problem}")
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        loopback = is_loopback(host)
        if loopback and not self.loopback:
            raise DisallowedURL(f"{what}: {safe_url(url)!r} is on loopback, allowed only when "
                                f"the source itself is on loopback")
        if parts.scheme == "http" and not loopback:
            raise DisallowedURL(f"{what}: {url!r} is not https (plain http is for loopback only)")
        if parts.username or parts.password:
            raise DisallowedURL(f"{what}: {safe_url(url)!r} carries credentials in the URL")
        if not loopback and host not in self.hosts:
            raise DisallowedURL(f"{what}: host {host!r} of {safe_url(url)!r} is not allowed")

    def may_carry_token(self, url: str) -> bool:
        """True when a configured registry token may go to `url`: an exact registry host[:port],
        over https (or plain http on loopback when the source is on loopback)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        netloc = f"{host}:{parts.port}" if parts.port else host
        secure = parts.scheme == "https" or (self.loopback and is_loopback(host))
        return secure and netloc in self.registry
