"""Signed API files: brew's PS512/homebrew-1/b64=false rules, each refusal named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from bottlesync.errors import ApiVerificationError, ConfigError
from bottlesync.jws import (
    is_signed,
    load_public_key,
    payload_span,
    unescape,
    verified_payload,
)
from tests.fakes.signing import new_key, sign_jws, write_public_pem

HOMEBREW_1_SHA256 = "f73fb42960f2948890dfcc9ff2b964dff5d1771269207ff766f642baabcf0cbb"
PAYLOAD = json.dumps([{"name": "wget", "desc": "Internet file retriever \u2603"}])


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    """The test's own signing key."""
    return new_key()


def test_a_good_signature_gives_the_payload_bytes(key: rsa.RSAPrivateKey) -> None:
    """GIVEN a file signed like formulae.brew.sh's THEN the payload comes back as UTF-8."""
    doc = sign_jws(PAYLOAD, key)
    assert verified_payload(doc, "formula.jws.json", key.public_key()) == PAYLOAD.encode()


def _tampered(doc: bytes) -> bytes:
    data = json.loads(doc)
    data["payload"] = data["payload"].replace("wget", "wgot")
    return json.dumps(data).encode()


@pytest.mark.parametrize(("make", "reason"), [
    pytest.param(lambda k: _tampered(sign_jws(PAYLOAD, k)), "signature mismatch", id="tampered"),
    pytest.param(lambda k: sign_jws(PAYLOAD, k, kid="homebrew-2"), "unknown key id", id="kid"),
    pytest.param(lambda k: sign_jws(PAYLOAD, k, b64=True), "b64 is not false", id="b64-true"),
    pytest.param(lambda k: sign_jws(PAYLOAD, k, alg="RS512"), "wrong algorithm 'RS512'",
                 id="alg"),
    pytest.param(lambda k: sign_jws(PAYLOAD, new_key()), "signature mismatch", id="other-key"),
    pytest.param(lambda k: b'{"payload": "[]"}', "no signatures", id="unsigned"),
    pytest.param(lambda k: b"<html>", "not a JWS JSON document", id="html"),
])
def test_each_bad_file_is_refused_with_its_reason(key: rsa.RSAPrivateKey, make: object,
                                                  reason: str) -> None:
    """GIVEN a hostile or broken file THEN ApiVerificationError names the file and why."""
    doc = make(key)  # type: ignore[operator]
    with pytest.raises(ApiVerificationError) as caught:
        verified_payload(doc, "https://mirror.example/api/cask.jws.json", key.public_key())
    assert str(caught.value).startswith("https://mirror.example/api/cask.jws.json: ")
    assert reason in str(caught.value)


def test_the_packaged_key_is_homebrews() -> None:
    """GIVEN no configured key THEN brew's Library/Homebrew/api/homebrew-1.pem is the one used
    (4096-bit RSA; the SHA-256 of its DER form, taken from brew's copy)."""
    key = load_public_key(None)
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.key_size == 4096
    assert hashlib.sha256(der).hexdigest() == HOMEBREW_1_SHA256


def test_a_configured_key_replaces_it(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    """GIVEN sync.api_public_key THEN files signed by that key verify, Homebrew's are refused."""
    pem = write_public_pem(key, tmp_path / "key.pem")
    doc = sign_jws(PAYLOAD, key)
    assert verified_payload(doc, "f", load_public_key(str(pem))) == PAYLOAD.encode()
    with pytest.raises(ApiVerificationError, match="signature mismatch"):
        verified_payload(doc, "f", load_public_key(None))


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read"), (b"not a pem", "is not a PEM public key")])
def test_a_bad_key_file_is_a_config_error(tmp_path: Path, content: bytes | None,
                                          message: str) -> None:
    """GIVEN a missing or garbled PEM THEN ConfigError names the key and the file."""
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"sync.api_public_key: {path}.*{message}"):
        load_public_key(str(path))


def test_signed_names() -> None:
    """Only .jws.json names (query ignored) are signed files."""
    assert is_signed("https://x/api/formula.jws.json?x=1")
    assert not is_signed("https://x/api/formula.json")


@given(text=st.text(), chunk=st.integers(min_value=2, max_value=64),
       signatures_first=st.booleans(), ascii_only=st.booleans())
@settings(max_examples=300)
def test_the_payload_is_unescaped_in_pieces_exactly(text: str, chunk: int,
                                                    signatures_first: bool,
                                                    ascii_only: bool) -> None:
    """GIVEN any payload text (escapes, non-BMP, lone surrogates) and member order THEN the
    piecewise unescape gives json.loads's bytes, without decoding the document whole."""
    payload = json.dumps({"desc": text, "more": [text, "\\\\\""]}, ensure_ascii=ascii_only)
    members = {"payload": payload, "signatures": [{"header": {"kid": "x"}, "n": 1.5}]}
    if signatures_first:
        members = dict(reversed(list(members.items())))
    document = json.dumps(members, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    span = payload_span(document)
    assert span is not None
    expected = json.loads(document)["payload"].encode("utf-8", "surrogatepass")
    assert unescape(document[span[0]:span[1]], chunk) == expected


@pytest.mark.parametrize("document", [
    b'{"payload": "a", "payload": 5}', b'{"p\\u0061yload": "x"}', b'[]', b'{"payload": "x',
    b'{"signatures": [1, {"a": "]"}], "x": true', b'{"a" 1}'])
def test_odd_documents_fall_back_or_fail_cleanly(document: bytes,
                                                 key: rsa.RSAPrivateKey) -> None:
    """GIVEN documents the byte scan does not recognise THEN json.loads decides: a one-line
    refusal, never a traceback or a payload from the wrong member."""
    with pytest.raises(ApiVerificationError, match=r"^f: "):
        verified_payload(document, "f", key.public_key())
