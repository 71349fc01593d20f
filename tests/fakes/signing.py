"""Sign Homebrew API files as formulae.brew.sh does (flattened JWS, PS512, b64 false), for fakes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def new_key() -> rsa.RSAPrivateKey:
    """A fresh test key pair (2048 bits: fast, and as valid for PS512 as brew's 4096)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_public_pem(key: rsa.RSAPrivateKey, path: Path) -> Path:
    """The public half as a PEM file, for `sync.api_public_key`."""
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jws(payload: str, key: rsa.RSAPrivateKey, *, kid: str = "homebrew-1",
             alg: str = "PS512", b64: bool = False) -> bytes:
    """A `.jws.json` document; kid, alg and b64 can be set wrong to make hostile files."""
    protected = _b64url(json.dumps({"alg": alg, "b64": b64, "crit": ["b64"]}).encode())
    signature = key.sign(f"{protected}.{payload}".encode(),
                         padding.PSS(mgf=padding.MGF1(hashes.SHA512()),
                                     salt_length=hashes.SHA512.digest_size),
                         hashes.SHA512())
    return json.dumps({"payload": payload, "signatures": [
        {"protected": protected, "header": {"kid": kid}, "signature": _b64url(signature)}]}
    ).encode()
