"""Handler fixtures: moto (S3, Secrets Manager, SNS), the functions' environment, a context."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.fakes.aws import AWS_ENV, BUCKET, REGION, LambdaContext, lambda_env, load_handler
from tests.fakes.homebrew import FakeHomebrew

Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call, with the test bucket created."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def function_env(aws: None, homebrew: FakeHomebrew,
                 monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the functions' environment (pointing at the fakes); keyword arguments override it."""

    def apply(**overrides: str) -> None:
        for name, value in lambda_env(homebrew.source_url, **overrides).items():
            monkeypatch.setenv(name, value)

    apply()
    return apply


@pytest.fixture
def invoke(function_env: Callable[..., None]) -> Callable[[str, Any], Any]:
    """Call the real `functions/<name>/app.py` handler with a fake Lambda context."""
    loaded: dict[str, Handler] = {}

    def call(name: str, event: Any) -> Any:
        if name not in loaded:
            loaded[name] = load_handler(name)
        return loaded[name](event, LambdaContext(name))

    return call


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections leave only for loopback (the fakes): the samples name ghcr.io."""
    connect = socket.create_connection

    def loopback_only(address: Any, *args: Any, **kwargs: Any) -> Any:
        host = str(address[0])
        if host == "localhost" or host == "::1" or host.startswith("127."):
            return connect(address, *args, **kwargs)
        raise OSError(f"tests never reach the internet ({host})")

    monkeypatch.setattr(socket, "create_connection", loopback_only)
