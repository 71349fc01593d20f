"""The status page's public address reaches Commit run: PublicUrl -> BOTTLESYNC_PUBLIC_URL."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bottlesync.config import Settings
from bottlesync.errors import ConfigError


def test_commit_run_gets_the_public_url_parameter(template: dict[str, Any],
                                                  translated: dict[str, Any]) -> None:
    """PublicUrl (empty by default) is Commit run's BOTTLESYNC_PUBLIC_URL, next to the globals."""
    assert template["Parameters"]["PublicUrl"]["Default"] == ""
    env = translated["CommitRunFunction"]["Properties"]["Environment"]["Variables"]
    assert env["BOTTLESYNC_PUBLIC_URL"] == {"Ref": "PublicUrl"}
    assert "BOTTLESYNC_DEST" in env


@pytest.mark.parametrize("value", ["", "https://brew.corp.test", "http://10.0.0.5:8080/mirror"])
def test_the_parameter_pattern_and_the_config_schema_agree_on_good_values(
    template: dict[str, Any], value: str
) -> None:
    """What CloudFormation accepts, the Lambda's Settings accept too (empty = not set)."""
    assert re.fullmatch(template["Parameters"]["PublicUrl"]["AllowedPattern"], value)
    assert Settings.from_env({"BOTTLESYNC_PUBLIC_URL": value}).public_url == value


@pytest.mark.parametrize("value", ["javascript:alert(1)", "https://x.test/<b>", "ftp://x.test"])
def test_and_on_bad_ones(template: dict[str, Any], value: str) -> None:
    """Markup or other schemes are refused by both."""
    assert not re.fullmatch(template["Parameters"]["PublicUrl"]["AllowedPattern"], value)
    with pytest.raises(ConfigError, match="BOTTLESYNC_PUBLIC_URL"):
        Settings.from_env({"BOTTLESYNC_PUBLIC_URL": value})
