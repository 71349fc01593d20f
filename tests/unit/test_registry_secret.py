"""registry_secret: the AWS edges read the registry token from Secrets Manager (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bottlesync.config import Settings
from bottlesync.errors import ConfigError
from bottlesync.registry_secret import SECRET_VARIABLE, registry_token, with_registry_token

TOKEN = "ghp_FromSecretsManager0123"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto Secrets Manager client."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def secret(client: Any, value: str) -> str:
    """A secret holding `value`; its ARN."""
    return str(client.create_secret(Name=f"s{abs(hash(value))}", SecretString=value)["ARN"])


@pytest.mark.parametrize("value", [TOKEN, f"  {TOKEN}\n", json.dumps({"token": TOKEN})])
def test_the_token_is_read_from_the_secret(secrets: Any, value: str) -> None:
    """GIVEN the token as text or {"token": ...} THEN it is the token."""
    assert registry_token(secrets, secret(secrets, value)) == TOKEN


@pytest.mark.parametrize("value", ["", "  ", json.dumps({"webhook": TOKEN}), "two\nlines",
                                   json.dumps([TOKEN])])
def test_a_secret_without_a_token_is_a_config_error(secrets: Any, value: str) -> None:
    """GIVEN an empty, multi-line or tokenless secret THEN ConfigError names the ARN only."""
    arn = secret(secrets, value or " ")
    with pytest.raises(ConfigError, match="registry token secret") as caught:
        registry_token(secrets, arn)
    assert arn in str(caught.value) and TOKEN not in str(caught.value)


def test_a_missing_secret_is_a_config_error(secrets: Any) -> None:
    """GIVEN an ARN that does not exist THEN ConfigError names it and the AWS error code."""
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"
    with pytest.raises(ConfigError, match="ResourceNotFoundException"):
        registry_token(secrets, arn)


def test_settings_carry_the_token_only_when_a_secret_is_configured(secrets: Any) -> None:
    """GIVEN REGISTRY_TOKEN_SECRET_ARN THEN Settings carry its token; unset, no client is made."""
    arn = secret(secrets, TOKEN)
    settings = with_registry_token(Settings(), {SECRET_VARIABLE: arn}, lambda: secrets)
    assert settings.registry_token == TOKEN
    assert TOKEN not in repr(settings) and all(TOKEN not in v for v in settings.to_env().values())

    def no_client() -> Any:
        raise AssertionError("no secret configured: no client")

    assert with_registry_token(Settings(), {SECRET_VARIABLE: " "}, no_client) == Settings()
