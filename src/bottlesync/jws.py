"""Homebrew's signed API files: a flattened JWS (PS512, unencoded payload) checked before use."""

from __future__ import annotations

import base64
import binascii
import json
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bottlesync.errors import ApiVerificationError, ConfigError

KEY_ID = "homebrew-1"
ALGORITHM = "PS512"
PACKAGED_KEY = "homebrew-1.pem"


def is_signed(name: str) -> bool:
    """True for a `.jws.json` file (its URL's path, ignoring a query)."""
    return name.split("?", 1)[0].endswith(".jws.json")


def load_public_key(path: str | None) -> rsa.RSAPublicKey:
    """Homebrew's key shipped in the package, or the PEM file configured in its place."""
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
    try:
        doc = json.loads(document)
    except (ValueError, RecursionError) as exc:
        raise ApiVerificationError(f"{name}: not a JWS JSON document: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), str):
        raise ApiVerificationError(f"{name}: not a JWS JSON document (no string payload)")
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
    payload: bytes = doc["payload"].encode("utf-8", "surrogatepass")
    signing_input = str(protected_text).encode("ascii", "replace") + b"." + payload
    try:
        key.verify(signature, signing_input,
                   padding.PSS(mgf=padding.MGF1(hashes.SHA512()),
                               salt_length=hashes.SHA512.digest_size),
                   hashes.SHA512())
    except InvalidSignature:
        raise ApiVerificationError(f"{name}: signature mismatch") from None
    return payload
