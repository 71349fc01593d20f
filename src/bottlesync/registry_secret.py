"""The registry token on AWS: read from Secrets Manager at the edge, never from a plain variable."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bottlesync.config import Settings
from bottlesync.errors import ConfigError

SECRET_VARIABLE = "REGISTRY_TOKEN_SECRET_ARN"
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{1,4096}")  # RFC 6750 b64token


def registry_token(client: Any, secret_arn: str) -> str:
    """The token in the secret: its SecretString, or the `token` of a JSON object.

    ConfigError names the secret (never its value) when it cannot be read or holds no token.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        text = client.get_secret_value(SecretId=secret_arn).get("SecretString") or ""
    except (ClientError, BotoCoreError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ConfigError(f"registry token secret {secret_arn}: cannot read it ({code})"
                          ) from None
    token = text.strip()
    if token.startswith("{"):
        try:
            token = json.loads(token).get("token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str):
            raise ConfigError(f"registry token secret {secret_arn}: JSON without a string 'token'")
        token = token.strip()
    if not _TOKEN_RE.fullmatch(token):
        raise ConfigError(f"registry token secret {secret_arn}: empty or not a bearer token "
                          f"(letters, digits and ._~+/=-)")
    return token


def with_registry_token(settings: Settings, env: Mapping[str, str],
                        client: Callable[[], Any]) -> Settings:
    """Settings carrying the token of REGISTRY_TOKEN_SECRET_ARN (unchanged when it is unset).

    `client` makes the Secrets Manager client, only when a secret is configured.
    """
    arn = env.get(SECRET_VARIABLE, "").strip()
    if not arn:
        return settings
    return replace(settings, registry_token=registry_token(client(), arn))
