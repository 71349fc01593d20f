"""GIVEN RegistryTokenSecretArn on AWS THEN Mirror batch and Plan sync read the token from Secrets
Manager and send it to the registry hosts only; a plain BOTTLESYNC_REGISTRY_TOKEN is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from bottlesync.errors import ConfigError
from tests.fakes.aws import REGION, batch_for_fakes, load_event, read_object
from tests.fakes.homebrew import FakeHomebrew

TOKEN = "ghp_TokenInSecretsManager99"
Invoke = Callable[[str, Any], Any]


@pytest.fixture
def token_env(function_env: Callable[..., None], homebrew: FakeHomebrew) -> None:
    """A registry that insists on TOKEN, the token in a secret, the fake listed as registry."""
    homebrew.token = TOKEN
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="ghcr-token", SecretString=TOKEN)["ARN"]
    function_env(REGISTRY_TOKEN_SECRET_ARN=arn,
                 BOTTLESYNC_REGISTRY_HOSTS=urlsplit(homebrew.root_url).netloc)


def test_mirror_batch_uses_the_secret_token(token_env: None, invoke: Invoke,
                                            homebrew: FakeHomebrew) -> None:
    """GIVEN the secret THEN the batch lands with the token on every registry request."""
    event = batch_for_fakes(load_event("mirror_batch"), homebrew)
    out = invoke("mirror_batch", event)
    assert (out["mirrored"], out["failed"]) == (len(event["Items"]), 0)
    assert read_object(event["Items"][0]["key"]) is not None
    registry = [r for r in homebrew.requests if r.host == "registry"]
    assert registry and all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in registry)
    assert not any("Authorization" in r.headers for r in homebrew.requests if r.host != "registry")


def test_plan_sync_sizes_with_the_secret_token(token_env: None, invoke: Invoke,
                                               homebrew: FakeHomebrew) -> None:
    """GIVEN the secret THEN Plan sync's index requests carry it, so every size is known."""
    out = invoke("plan_sync", {})
    assert out["planned"] > 0 and out["planned_bytes"] > 0
    manifests = [r for r in homebrew.requests if "/manifests/" in r.path]
    assert manifests and all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in manifests)


def test_a_plain_token_variable_is_refused(function_env: Callable[..., None],
                                           invoke: Invoke, homebrew: FakeHomebrew) -> None:
    """GIVEN BOTTLESYNC_REGISTRY_TOKEN in a Lambda's environment THEN ConfigError, no request."""
    function_env(BOTTLESYNC_REGISTRY_TOKEN=TOKEN)
    with pytest.raises(ConfigError, match="Secrets Manager") as caught:
        invoke("mirror_batch", batch_for_fakes(load_event("mirror_batch"), homebrew))
    assert TOKEN not in str(caught.value)
    assert homebrew.requests == []

