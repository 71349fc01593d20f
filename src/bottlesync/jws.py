"""Homebrew's signed API files: a flattened JWS (PS512, unencoded payload) checked before use."""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bottlesync.errors import ApiVerificationError, ConfigError

if TYPE_CHECKING:  # cryptography is imported where a signature is checked: a plain run skips it
    from cryptography.hazmat.primitives.asymmetric import rsa

KEY_ID = "homebrew-1"
ALGORITHM = "PS512"
PACKAGED_KEY = "homebrew-1.pem"


def is_signed(name: str) -> bool:
    """True for a `.jws.json` file (its URL's path, ignoring a query)."""
    return name.split("?", 1)[0].endswith(".jws.json")


def load_public_key(path: str | None) -> rsa.RSAPublicKey:
    """Homebrew's key shipped in the package, or the PEM file configured in its place."""
    from importlib import resources

    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    where = path or f"bottlesync/{PACKAGED_KEY}"
    try:
        pem = (Path(path).read_bytes() if path
               else resources.files("bottlesync").joinpath(PACKAGED_KEY).read_bytes())
    except OSError as exc:
        raise ConfigError(f"sync.api_public_key: {where}: cannot read: "
                          f"{exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"sync.api_public_key: {where} is not a PEM public key: {exc}"
                          ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError(f"sync.api_public_key: {where} is not an RSA public key")
    return key


def _b64url(text: Any, name: str, what: str) -> bytes:
    """Decode unpadded base64url; ApiVerificationError names the file and the field."""
    if not isinstance(text, str):
        raise ApiVerificationError(f"{name}: {what} is not a string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ApiVerificationError(f"{name}: {what} is not base64url") from None


def verified_payload(document: bytes, name: str, key: rsa.RSAPublicKey) -> bytes:
    """The payload of a `.jws.json` file once its PS512 signature by `homebrew-1` checks out.

    The same rules as brew's: one signature with kid homebrew-1, alg PS512, b64 false
    (RFC 7797: the payload is signed as it is, not base64url-encoded).
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    span = payload_span(document)
    try:
        if span is None:
            doc = json.loads(document)
        else:  # the small rest of the document, the payload emptied
            doc = json.loads(document[:span[0]] + document[span[1]:])
        if not isinstance(doc, dict) or not isinstance(doc.get("payload"), str):
            raise ApiVerificationError(f"{name}: not a JWS JSON document (no string payload)")
        payload = (doc["payload"].encode("utf-8", "surrogatepass") if span is None
                   else unescape(document[span[0]:span[1]]))
    except (ValueError, RecursionError) as exc:
        raise ApiVerificationError(f"{name}: not a JWS JSON document: {exc}") from None
    signatures = doc.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise ApiVerificationError(f"{name}: not a JWS JSON document (no signatures)")
    ours = [s for s in signatures if isinstance(s, dict)
            and isinstance(s.get("header"), dict) and s["header"].get("kid") == KEY_ID]
    if not ours:
        raise ApiVerificationError(f"{name}: unknown key id (no signature by {KEY_ID})")
    protected_text = ours[0].get("protected")
    try:
        header = json.loads(_b64url(protected_text, name, "the protected header"))
    except (ValueError, RecursionError):
        raise ApiVerificationError(f"{name}: the protected header is not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        alg = header.get("alg") if isinstance(header, dict) else None
        raise ApiVerificationError(f"{name}: wrong algorithm {alg!r} (expected {ALGORITHM})")
    if header.get("b64") is not False:
        raise ApiVerificationError(f"{name}: wrong algorithm (b64 is not false: the payload "
                                   f"must be unencoded)")
    signature = _b64url(ours[0].get("signature"), name, "the signature")
    signing_input = str(protected_text).encode("ascii", "replace") + b"." + payload
    try:
        key.verify(signature, signing_input,
                   padding.PSS(mgf=padding.MGF1(hashes.SHA512()),
                               salt_length=hashes.SHA512.digest_size),
                   hashes.SHA512())
    except InvalidSignature:
        raise ApiVerificationError(f"{name}: signature mismatch") from None
    return payload


# -- the payload without a whole-document str -------------------------------------------------
# json.loads of formula.jws.json makes its ~30 MB payload one str, 4 bytes a character once a
# character lies outside the BMP (~124 MB): too much beside boto3 in a 256 MB Lambda. The payload
# string is found in the bytes and unescaped ~1 MiB at a time instead.
_WS = re.compile(rb"[ \t\n\r]*")
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
_SCALAR_END = re.compile(rb"[,}\]]")


def _skip_value(document: bytes, pos: int) -> int | None:
    """The end of the JSON value at `pos` (strings skipped whole); None when it has none."""
    first = document[pos:pos + 1]
    if first == b'"':
        match = _STRING.match(document, pos)
        return match.end() if match else None
    if first in (b"[", b"{"):
        depth = 0
        for token in _TOKEN.finditer(document, pos):
            if token.group() in (b"[", b"{"):
                depth += 1
            elif token.group() in (b"]", b"}"):
                depth -= 1
                if depth == 0:
                    return token.end()
        return None
    end = _SCALAR_END.search(document, pos)
    return end.start() if end else None


def payload_span(document: bytes) -> tuple[int, int] | None:
    """Byte span of the top-level "payload" string's content (its last one, as json.loads
    keeps); None when not found this way (json.loads then decides)."""
    pos = _WS.match(document).end()  # type: ignore[union-attr]
    if document[pos:pos + 1] != b"{":
        return None
    span = None
    pos += 1
    while True:
        key = _STRING.match(document, _WS.match(document, pos).end())  # type: ignore[union-attr]
        if key is None:
            return span
        pos = _WS.match(document, key.end()).end()  # type: ignore[union-attr]
        if document[pos:pos + 1] != b":":
            return None
        pos = _WS.match(document, pos + 1).end()  # type: ignore[union-attr]
        end = _skip_value(document, pos)
        if end is None:
            return None
        if key.group() == b'"payload"' and document[pos:pos + 1] == b'"':
            span = (pos + 1, end - 1)
        pos = _WS.match(document, end).end()  # type: ignore[union-attr]
        if document[pos:pos + 1] != b",":
            return span
        pos += 1


def unescape(content: bytes, chunk: int = 1 << 20) -> bytes:
    """The UTF-8 bytes of a JSON string literal's content, decoded `chunk` bytes at a time.

    Each cut is made just before an escaped quote (every `"` inside is one, its backslash
    starts an escape), so no escape, UTF-8 sequence or surrogate pair is ever split.
    """
    parts: list[bytes] = []
    start = 0
    while start < len(content):
        quote = content.find(b'"', start + max(2, chunk))
        end = len(content) if quote == -1 else quote - 1
        text = json.loads(b'"' + content[start:end] + b'"')
        parts.append(text.encode("utf-8", "surrogatepass"))
        start = end
    return b"".join(parts)
