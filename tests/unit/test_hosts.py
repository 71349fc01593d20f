"""hosts: odd URLs are named, loopback follows the source, tokens stay on registries."""

from __future__ import annotations

import pytest

from bottlesync.config import Settings
from bottlesync.errors import DisallowedURL
from bottlesync.hosts import HostPolicy, _host_problem, safe_url, url_problem
from bottlesync.upstream import Upstream

HTTPS_SOURCE = "https://formulae.brew.sh/api/formula.json"
LOOPBACK_SOURCE = "http://127.0.0.1:8000/api/formula.json"


@pytest.mark.parametrize(("url", "needle"), [
    ("https://[::1/v2/x", "cannot be parsed"),
    ("https://ghcr.io:99999/v2/x", "cannot be parsed"),
    ("https://ghcr.io:0/v2/x", "port 0"),
    ("https://\uff47hcr.io/v2/x", "printable ASCII"),
    ("https://bücher.example/v2/x", "printable ASCII"),
    ("https://xn--bcher-kva.example/v2/x", "punycode"),
    ("http://2130706433/v2/x", "dotted-decimal"),
    ("http://0177.0.0.1/v2/x", "dotted-decimal"),
    ("http://0x7f.0.0.1/v2/x", "dotted-decimal"),
    ("http://127.1/v2/x", "dotted-decimal"),
    ("https://ghcr.io./v2/x", "plain ASCII host"),
    ("https://gh_cr.io/v2/x", "plain ASCII host"),
    ("https://[fe80::1%25eth0]/v2/x", "IPv6"),
    ("ftp://ghcr.io/x", "http(s)"),
])
def test_odd_urls_are_named(url: str, needle: str) -> None:
    """GIVEN a URL urllib rejects or an odd host THEN url_problem says why (never raises)."""
    problem = url_problem(url)
    assert problem is not None and needle in problem


@pytest.mark.parametrize("url", [
    "https://ghcr.io/v2/homebrew/core/wget/blobs/sha256:ab", "http://127.0.0.1:8080/x",
    "http://[::1]:9/x", "https://1.2.3.4/x", "https://pkg-containers.githubusercontent.com/b",
    "http://localhost/x",
])
def test_plain_urls_pass(url: str) -> None:
    """GIVEN ordinary registry, loopback and dotted-quad URLs THEN no problem."""
    assert url_problem(url) is None


def test_safe_url_of_a_malformed_url_does_not_raise() -> None:
    """GIVEN a URL that urllib cannot parse THEN messages get a placeholder, not a ValueError."""
    assert safe_url("https://[::1/x?sig=s3cr3t") == "<malformed URL>"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
                                 "http://localhost/x", "http://[::1]:80/x",
                                 "https://127.0.0.1/x"])
def test_loopback_is_refused_for_a_real_https_source(url: str) -> None:
    """GIVEN an https source THEN loopback (the Lambda runtime API) is refused, on any port."""
    with pytest.raises(DisallowedURL, match="loopback"):
        HostPolicy.for_source(HTTPS_SOURCE).check(url, "bottle x")


def test_loopback_is_allowed_for_a_loopback_source() -> None:
    """GIVEN a loopback source (tests, demo) THEN loopback URLs on any port stay allowed."""
    policy = HostPolicy.for_source(LOOPBACK_SOURCE)
    for url in ("http://127.0.0.2:9/x", "http://localhost:1/x", "http://[::1]:80/x"):
        policy.check(url, "bottle x")


def test_odd_urls_are_refused_by_the_policy_too() -> None:
    """GIVEN a malformed redirect target THEN DisallowedURL, not a ValueError."""
    with pytest.raises(DisallowedURL, match="cannot be parsed"):
        HostPolicy.for_source(LOOPBACK_SOURCE).check("http://[::1/x", "redirect")


@pytest.mark.parametrize(("url", "expected"), [
    ("https://ghcr.io/v2/x", True),
    ("http://ghcr.io/v2/x", False),
    ("https://ghcr.io:8443/v2/x", False),
    ("https://formulae.brew.sh/v2/x", False),
    ("https://ghcr.io.evil.example/v2/x", False),
    ("https://pkg-containers.githubusercontent.com/b", False),
])
def test_token_scope_is_the_exact_registry_host(url: str, expected: bool) -> None:
    """GIVEN the default registry_hosts THEN only https://ghcr.io may carry the token."""
    assert HostPolicy.for_source(HTTPS_SOURCE).may_carry_token(url) is expected


def test_token_scope_with_a_port_and_loopback_source() -> None:
    """GIVEN registry host 127.0.0.1:5000 and a loopback source THEN that port only, http ok."""
    policy = HostPolicy.for_source(LOOPBACK_SOURCE, registry=["127.0.0.1:5000"])
    assert policy.may_carry_token("http://127.0.0.1:5000/v2/x")
    assert not policy.may_carry_token("http://127.0.0.1:8000/v2/x")
    assert not policy.may_carry_token("http://127.0.0.2:5000/v2/x")


def test_a_local_file_source_does_not_open_loopback() -> None:
    """GIVEN a catalogue file (perhaps downloaded from anywhere) THEN loopback stays refused."""
    for source in ("/srv/formula.json", "file:///srv/formula.json"):
        with pytest.raises(DisallowedURL, match="loopback"):
            HostPolicy.for_source(source).check("http://127.0.0.1:9001/x", "bottle x")


def test_registry_hosts_are_allowed_hosts_too() -> None:
    """GIVEN a registry host with a port THEN its URLs are allowed (and carry the token)."""
    policy = HostPolicy.for_source(HTTPS_SOURCE, registry=["reg.example:8443"])
    policy.check("https://reg.example:8443/v2/x", "bottle x")
    assert policy.may_carry_token("https://reg.example:8443/v2/x")
    assert not policy.may_carry_token("https://ghcr.io/v2/x")


def test_a_malformed_seed_url_is_disallowed_not_a_crash() -> None:
    """GIVEN a malformed https URL handed to Upstream (a seed manifest) THEN DisallowedURL."""
    with Upstream(Settings()) as upstream, pytest.raises(DisallowedURL, match="cannot be parsed"):
        upstream.get_bytes("https://[::1/seed.json", "seed manifest")


def test_each_host_is_judged_once_and_keeps_its_verdict() -> None:
    """GIVEN many URLs on a fine host and on an odd one THEN each host is judged once (a cache
    hit after), and the odd one is still refused every time."""
    _host_problem.cache_clear()
    for n in range(50):
        assert url_problem(f"https://ghcr.io/v2/x/blobs/sha256:{n:064x}") is None
        problem = url_problem(f"http://127.1/v2/x/{n}")
        assert problem is not None and "dotted-decimal" in problem
    info = _host_problem.cache_info()
    assert (info.misses, info.hits) == (2, 98)
