"""Upstream: the token stays with the registry, redirects on allowed hosts, bounded retries."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from bottlesync.config import Settings
from bottlesync.errors import DisallowedURL, TransientUpstreamError, UpstreamError
from bottlesync.upstream import (
    MAX_REDIRECTS,
    OCI_INDEX,
    HostPolicy,
    OnFirstUse,
    Throttle,
    Upstream,
    is_loopback,
    retry_after_seconds,
)
from tests.fakes.homebrew import FakeFormula, FakeHomebrew, free_port_url
from tests.unit.conftest import FakeClock, StubServer, fake_upstream

SIGNATURE = "sig=s3cr3t"


def bottle_url(homebrew: FakeHomebrew, name: str = "wget", tag: str = "arm64_sequoia") -> str:
    """The registry URL of one of the fake's bottles (as the catalogue lists it)."""
    image = name.replace("@", "/").replace("+", "x")
    return f"{homebrew.root_url}/{image}/blobs/sha256:{homebrew.sha256(name, tag)}"


def fetch(upstream: Upstream, url: str, auth: bool = True) -> bytes:
    """A whole body through open() + chunks() (one attempt, no retry)."""
    with upstream.open(url, "test", auth=auth) as response:
        return b"".join(upstream.chunks(response, "test"))


# -- host policy -------------------------------------------------------------------------------
POLICY = HostPolicy.for_source("https://formulae.brew.sh/api/formula.json",
                               ["Mirror.Example.org"])


@pytest.mark.parametrize("url", [
    "https://formulae.brew.sh/api/formula.json", "https://ghcr.io/v2/x",
    "https://pkg-containers.githubusercontent.com/ghcr1/blobs/sha256:ab",
    "https://mirror.example.org/x",
])
def test_policy_allows(url: str) -> None:
    """GIVEN the source host, registry hosts or configured extras THEN allowed."""
    POLICY.check(url, "bottle")


@pytest.mark.parametrize(("url", "needle"), [
    ("https://evil.example.com/x", "host 'evil.example.com'"),
    ("http://ghcr.io/v2/x", "is not https"),
    ("ftp://ghcr.io/x", "is not an http(s) URL"),
    ("https:///nohost", "is not an http(s) URL"),
    ("https://user:hunter2@ghcr.io/x", "carries credentials"),
    ("https://ghcr.io.evil.example/x", "host 'ghcr.io.evil.example'"),
])
def test_policy_rejects(url: str, needle: str) -> None:
    """GIVEN another host, plain http off loopback, or userinfo THEN DisallowedURL says why."""
    with pytest.raises(DisallowedURL) as caught:
        POLICY.check(url, "bottle wget")
    assert str(caught.value).startswith("bottle wget: ")
    assert needle in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_is_loopback() -> None:
    """GIVEN hosts THEN only localhost, 127/8 and ::1 count as loopback."""
    assert all(map(is_loopback, ["localhost", "127.0.0.1", "127.255.0.9", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["10.0.0.1", "localhost.example", "ghcr.io", ""]))


# -- credentials -------------------------------------------------------------------------------
def test_token_goes_to_registry_not_to_blob_host(homebrew: FakeHomebrew,
                                                 upstream: Upstream) -> None:
    """GIVEN ghcr's redirect to the blob host THEN the download works and no header leaked."""
    assert fetch(upstream, bottle_url(homebrew)) == homebrew.blob("wget", "arm64_sequoia")
    assert homebrew.auth_leaks == []
    registry = [r for r in homebrew.requests if r.host == "registry"]
    assert registry[-1].headers["Authorization"] == "Bearer QQ=="


def test_authorization_never_crosses_a_redirect(stub: StubServer, settings: Settings,
                                                clock: FakeClock) -> None:
    """GIVEN a redirect to another port of the same host THEN that origin sees no Authorization."""
    other = StubServer("127.0.0.1")
    try:
        target = other.route("/blob", b"payload")
        url = stub.route("/v2/x/blobs/sha256:1", b"", status=307,
                         headers={"Location": f"{target}?{SIGNATURE}"})
        with fake_upstream(settings, clock) as upstream:
            assert fetch(upstream, url) == b"payload"
    finally:
        other.stop()
    assert stub.seen[0].headers["Authorization"] == "Bearer QQ=="
    assert other.seen[0].path == f"/blob?{SIGNATURE}"
    assert "Authorization" not in other.seen[0].headers


def test_relative_redirect_on_same_origin_keeps_the_token(stub: StubServer,
                                                           upstream: Upstream) -> None:
    """GIVEN a redirect within the same origin THEN the token is still sent (same registry)."""
    stub.route("/final", b"ok")
    url = stub.route("/start", b"", status=302, headers={"Location": "/final"})
    assert fetch(upstream, url) == b"ok"
    assert [s.headers.get("Authorization") for s in stub.seen] == ["Bearer QQ=="] * 2


def test_configured_token_replaces_the_anonymous_one(tmp_path: Any, clock: FakeClock) -> None:
    """GIVEN a registry that wants a real token THEN the configured one is sent, not QQ==."""
    with FakeHomebrew([FakeFormula("jq", "1.7.1")], token="ghp_real") as fake:
        registry = (urlsplit(fake.root_url).netloc,)
        base = Settings(source=fake.source_url, attempts=1, registry_hosts=registry)
        with fake_upstream(base, clock) as anonymous, pytest.raises(UpstreamError, match="401"):
            fetch(anonymous, bottle_url(fake, "jq"))
        with fake_upstream(replace(base, registry_token="ghp_real"), clock) as upstream:
            assert fetch(upstream, bottle_url(fake, "jq")) == fake.blob("jq", "arm64_sequoia")
        assert fake.auth_leaks == []


# -- redirects ---------------------------------------------------------------------------------
def test_redirect_to_disallowed_host_is_refused(homebrew: FakeHomebrew,
                                                upstream: Upstream) -> None:
    """GIVEN a redirect to an unknown host THEN DisallowedURL names the host, not the signature."""
    homebrew.fault("redirect_to", match="/blobs/", url=f"https://evil.example.com/b?{SIGNATURE}")
    with pytest.raises(DisallowedURL) as caught:
        fetch(upstream, bottle_url(homebrew))
    assert "'evil.example.com'" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_redirect_to_plain_http_off_loopback_is_refused(homebrew: FakeHomebrew,
                                                        upstream: Upstream) -> None:
    """GIVEN a redirect to http://ghcr.io THEN it is refused as not https."""
    homebrew.fault("redirect_to", match="/blobs/", url="http://ghcr.io/x")
    with pytest.raises(DisallowedURL, match="not https"):
        fetch(upstream, bottle_url(homebrew))


def test_redirect_loop_gives_up(homebrew: FakeHomebrew, upstream: Upstream) -> None:
    """GIVEN a redirect loop THEN UpstreamError (not transient) after MAX_REDIRECTS hops."""
    homebrew.fault("redirect_loop", match="/blobs/", times=-1)
    with pytest.raises(UpstreamError, match=f"more than {MAX_REDIRECTS} redirects") as caught:
        upstream.get_bytes(bottle_url(homebrew), "bottle", auth=True)
    assert not isinstance(caught.value, TransientUpstreamError)
    assert homebrew.count("blob") == MAX_REDIRECTS + 1


# -- retries -----------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [429, 500, 502, 503, 504, 408])
def test_transient_status_is_retried_then_succeeds(homebrew: FakeHomebrew, upstream: Upstream,
                                                   clock: FakeClock, code: int) -> None:
    """GIVEN two transient answers THEN the third attempt returns the catalogue."""
    homebrew.fault("status", match="/api/formula.json", times=2, code=code)
    assert upstream.get_json(homebrew.source_url, "catalogue")[0]["name"] == "wget"
    assert homebrew.count("catalogue") == 3
    assert len(clock.sleeps) >= 2


def test_retry_after_is_honoured_and_capped(homebrew: FakeHomebrew, settings: Settings,
                                            clock: FakeClock) -> None:
    """GIVEN Retry-After 2 then 3600 THEN waits of 2 s and then max_retry_after (7 s)."""
    homebrew.fault("status", match="/api/formula.json", code=503, retry_after=2)
    homebrew.fault("status", match="/api/formula.json", code=503, retry_after=3600)
    with fake_upstream(replace(settings, max_retry_after=7.0), clock) as upstream:
        upstream.get_bytes(homebrew.source_url, "catalogue")
    assert clock.sleeps == [2.0, 7.0]


def test_429_retry_waits_once_not_twice(homebrew: FakeHomebrew, settings: Settings,
                                        clock: FakeClock) -> None:
    """GIVEN a 429 with Retry-After 3 THEN the retry waits 3 s in all, not backoff + throttle."""
    homebrew.fault("status", match="/api/formula.json", code=429, retry_after=3)
    with fake_upstream(replace(settings, max_retry_after=10.0), clock) as upstream:
        upstream.get_bytes(homebrew.source_url, "catalogue")
    assert sum(clock.sleeps) == pytest.approx(3.0)


def test_http_date_retry_after(homebrew: FakeHomebrew, settings: Settings,
                               clock: FakeClock) -> None:
    """GIVEN a Retry-After HTTP date far ahead THEN the wait is capped at max_retry_after."""
    when = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    homebrew.fault("status", match="/api/formula.json", code=503, retry_after=when)
    with fake_upstream(replace(settings, max_retry_after=4.0), clock) as upstream:
        upstream.get_bytes(homebrew.source_url, "catalogue")
    assert clock.sleeps == [4.0]


def test_retry_after_seconds_parses_both_forms() -> None:
    """GIVEN delta-seconds, an HTTP date, junk or nothing THEN seconds or None."""
    now = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Sat, 28 Nov 2026 03:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Sat, 28 Nov 2026 02:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("") is None
    assert retry_after_seconds(None) is None


def test_backoff_without_retry_after_is_bounded_jitter(upstream: Upstream) -> None:
    """GIVEN no Retry-After THEN the delay is within [0, min(cap, base * 2^(n-1))]."""
    bounded = replace(upstream.settings, backoff_base=1.0, max_retry_after=3.0)
    with Upstream(bounded) as client:
        delays = [client.backoff(attempt, Exception()) for attempt in (1, 2, 5) for _ in range(50)]
    assert all(0 <= d <= 1.0 for d in delays[:50])
    assert all(0 <= d <= 3.0 for d in delays[100:])


def test_not_found_is_not_retried(homebrew: FakeHomebrew, upstream: Upstream,
                                  clock: FakeClock) -> None:
    """GIVEN a 404 THEN one request, no sleep, an UpstreamError naming the status."""
    homebrew.fault("status", match="/api/formula.json", code=404)
    with pytest.raises(UpstreamError, match="HTTP 404") as caught:
        upstream.get_bytes(homebrew.source_url, "catalogue")
    assert not isinstance(caught.value, TransientUpstreamError)
    assert homebrew.count("catalogue") == 1
    assert clock.sleeps == []


def test_attempts_are_bounded(homebrew: FakeHomebrew, upstream: Upstream,
                              clock: FakeClock) -> None:
    """GIVEN 503 forever THEN exactly `attempts` requests and a TransientUpstreamError."""
    homebrew.fault("status", match="/api/formula.json", code=503, times=-1)
    with pytest.raises(TransientUpstreamError, match="gave up after 3 attempts"):
        upstream.get_bytes(homebrew.source_url, "catalogue")
    assert homebrew.count("catalogue") == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("kind", ["reset", "truncate", "wrong_length"])
def test_broken_bodies_are_transient(homebrew: FakeHomebrew, upstream: Upstream,
                                     kind: str) -> None:
    """GIVEN a body cut short THEN TransientUpstreamError, without the signed query string."""
    homebrew.fault(kind, match="/ghcr1/blobs/")
    with pytest.raises(TransientUpstreamError) as caught:
        fetch(upstream, bottle_url(homebrew))
    assert "127.0.0.2" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_broken_body_is_retried_by_get_bytes(homebrew: FakeHomebrew, upstream: Upstream) -> None:
    """GIVEN one truncated catalogue THEN get_bytes retries and returns the whole document."""
    homebrew.fault("truncate", match="/api/formula.json")
    assert upstream.get_json(homebrew.source_url, "catalogue")[-1]["name"] == "jq"


def test_error_status_on_blob_host_hides_the_signature(homebrew: FakeHomebrew,
                                                       upstream: Upstream) -> None:
    """GIVEN the blob host answers 403 THEN the error names the host but not the signed query."""
    homebrew.fault("status", match="/ghcr1/blobs/", code=403)
    with pytest.raises(UpstreamError, match="HTTP 403") as caught:
        fetch(upstream, bottle_url(homebrew))
    assert "s3cr3t" not in str(caught.value) and "127.0.0.2" in str(caught.value)


def test_connection_refused_is_transient_without_query(upstream: Upstream) -> None:
    """GIVEN nobody listening THEN a transient error whose message drops the query string."""
    with pytest.raises(TransientUpstreamError) as caught:
        fetch(upstream, f"{free_port_url()}blob?{SIGNATURE}")
    assert "s3cr3t" not in str(caught.value)


def test_non_json_body_is_an_upstream_error(homebrew: FakeHomebrew, upstream: Upstream) -> None:
    """GIVEN an HTML page where JSON was expected THEN UpstreamError says so (no retry)."""
    homebrew.fault("html", match="/api/formula.json")
    with pytest.raises(UpstreamError, match="is not JSON"):
        upstream.get_json(homebrew.source_url, "catalogue")
    assert homebrew.count("catalogue") == 1


def test_get_bytes_enforces_its_limit(homebrew: FakeHomebrew, upstream: Upstream) -> None:
    """GIVEN a body over the limit THEN UpstreamError instead of unbounded memory."""
    with pytest.raises(UpstreamError, match="larger than 100 bytes"):
        upstream.get_bytes(homebrew.source_url, "catalogue", limit=100)


# -- throttle ----------------------------------------------------------------------------------
def test_throttle_pause_holds_other_threads() -> None:
    """GIVEN one thread saw a 429 (pause 5 s) THEN another thread's next request waits 5 s."""
    clock = FakeClock()
    throttle = Throttle(sleep=clock.sleep, clock=clock)
    pauser = threading.Thread(target=throttle.pause, args=(5.0,))
    pauser.start()
    pauser.join()
    waiter = threading.Thread(target=throttle.wait)
    waiter.start()
    waiter.join()
    assert clock.sleeps == [5.0]
    throttle.wait()
    assert clock.sleeps == [5.0]


def test_throttle_keeps_the_longest_pause() -> None:
    """GIVEN a long pause then a shorter one THEN the longer one wins."""
    clock = FakeClock()
    throttle = Throttle(sleep=clock.sleep, clock=clock)
    throttle.pause(10.0)
    throttle.pause(1.0)
    throttle.wait()
    assert clock.sleeps == [10.0]


def test_429_in_one_worker_pauses_the_others(homebrew: FakeHomebrew, settings: Settings,
                                             clock: FakeClock) -> None:
    """GIVEN a 429 with Retry-After 3 in one thread THEN a request from another thread waits 3 s."""
    homebrew.fault("status", match="/api/formula.json", code=429, retry_after=3)
    with fake_upstream(replace(settings, attempts=1, max_retry_after=10), clock) as upstream:
        errors: list[BaseException] = []

        def first() -> None:
            try:
                upstream.get_bytes(homebrew.source_url, "catalogue")
            except TransientUpstreamError as exc:
                errors.append(exc)

        worker = threading.Thread(target=first)
        worker.start()
        worker.join()
        assert errors and "HTTP 429" in str(errors[0])
        assert clock.sleeps == []
        other = threading.Thread(target=upstream.get_bytes,
                                 args=(f"{homebrew.root_url}/jq/manifests/1.7.1_2", "x"),
                                 kwargs={"auth": True, "accept": OCI_INDEX})
        other.start()
        other.join()
    assert clock.sleeps == [3.0]


# -- sizes and pool ----------------------------------------------------------------------------
def test_bottle_sizes_from_the_oci_index(homebrew: FakeHomebrew, upstream: Upstream) -> None:
    """GIVEN a rebuilt formula THEN ref.name carries `.<rebuild>` and every size is read."""
    refs = {"5.4.0.arm64_sequoia.2": "arm64_sequoia", "5.4.0.x86_64_linux.2": "x86_64_linux"}
    sizes = upstream.bottle_sizes(homebrew.root_url, "libxmlxx", "5.4.0-2", refs)
    assert sizes == {tag: homebrew.size("libxml++", tag) for tag in refs.values()}
    registry = [r for r in homebrew.requests if "/manifests/" in r.path]
    assert registry[-1].headers["Authorization"] == "Bearer QQ=="


def test_bottle_sizes_ignore_odd_annotations(stub: StubServer, upstream: Upstream) -> None:
    """GIVEN an index with junk manifests THEN only well-formed sizes of wanted refs are kept."""
    def manifest(ref: str, size: Any) -> dict[str, Any]:
        return {"annotations": {"org.opencontainers.image.ref.name": ref,
                                "sh.brew.bottle.size": size}}

    stub.route("/v2/wget/manifests/1.0", {"manifests": [
        manifest("1.0.sonoma", "1234"), manifest("1.0.all", "-5"), manifest("1.0.x", "99"),
        manifest("1.0.arm64_linux", "9" * 20), "junk", {"annotations": "junk"},
        manifest("1.0.x86_64_linux", None)]})
    refs = {"1.0.sonoma": "sonoma", "1.0.all": "all", "1.0.arm64_linux": "arm64_linux",
            "1.0.x86_64_linux": "x86_64_linux"}
    assert upstream.bottle_sizes(f"{stub.base}/v2", "wget", "1.0", refs) == {"sonoma": 1234}


def test_bottle_sizes_missing_index_is_an_error(homebrew: FakeHomebrew,
                                                upstream: Upstream) -> None:
    """GIVEN no index for that version THEN UpstreamError (the plan leaves sizes unknown)."""
    with pytest.raises(UpstreamError, match="HTTP 404"):
        upstream.bottle_sizes(homebrew.root_url, "wget", "0.0.1", {})


@pytest.mark.parametrize("concurrency", [1, 8, 32, 64])
def test_connection_pool_follows_concurrency(concurrency: int) -> None:
    """GIVEN N workers THEN the pool holds at least N connections per host (no pool thrash)."""
    for trust_env in (False, True):
        with Upstream(Settings(concurrency=concurrency, trust_env=trust_env)) as client:
            assert client.transport.pool_size >= concurrency


def test_netrc_never_adds_credentials_even_when_trusting_the_environment(
        homebrew: FakeHomebrew, settings: Settings, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a ~/.netrc naming the blob host and trust_env on THEN no Authorization reaches it."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.2 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with Upstream(replace(settings, trust_env=True)) as upstream:
        assert fetch(upstream, bottle_url(homebrew)) == homebrew.blob("wget", "arm64_sequoia")
    assert homebrew.auth_leaks == []


def test_the_transport_is_made_once_by_the_first_of_many_threads() -> None:
    """GIVEN 16 threads asking for the transport at once THEN one is made and all share it;
    closing an Upstream that never sent a request makes none."""
    made: list[object] = []
    started = threading.Barrier(16)

    def make() -> Any:
        made.append(object())
        return made[-1]

    lazy = OnFirstUse(make)

    def ask(_: int) -> object:
        started.wait()
        return lazy.get()

    with ThreadPoolExecutor(max_workers=16) as pool:
        seen = list(pool.map(ask, range(16)))
    assert len(made) == 1 and seen == made * 16
    idle = OnFirstUse(make)
    idle.close()
    assert len(made) == 1


def test_an_upstream_makes_its_transport_only_when_it_sends(homebrew: FakeHomebrew,
                                                            settings: Settings) -> None:
    with Upstream(settings) as client:
        assert client._transport._made is None
        assert client.get_bytes(homebrew.source_url, "catalogue")
        assert client._transport._made is not None
