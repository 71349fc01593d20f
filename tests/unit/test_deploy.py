"""samconfig.toml rendered from config.yaml: valid TOML, one section per environment, its values."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from bottlesync.config import GIB, load_config
from bottlesync.deploy import render_samconfig, render_section, stack_parameters
from bottlesync.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "config.yaml"


def overrides(text: str) -> dict[str, str]:
    """parameter_overrides `K="v" ...` as SAM reads it (shell-style words)."""
    return dict(word.split("=", 1) for word in shlex.split(text))


def test_shipped_config_renders_every_environment() -> None:
    """GIVEN the shipped config.yaml THEN samconfig parses and has dev, staging and prod."""
    doc = tomllib.loads(render_samconfig(load_config(SHIPPED)))
    assert doc["version"] == 0.1
    assert set(doc) == {"version", "dev", "staging", "prod"}
    for env in ("dev", "staging", "prod"):
        assert set(doc[env]) == {"global", "build", "validate", "deploy", "sync"}
        assert doc[env]["global"]["parameters"]["stack_name"] == f"homebrew-bottles-sync-{env}"
    assert doc["dev"]["global"]["parameters"]["region"] == "us-west-2"
    assert doc["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert doc["dev"]["deploy"]["parameters"]["confirm_changeset"] is False


def test_parameter_overrides_carry_the_environment_values() -> None:
    """GIVEN dev's overrides THEN its parameters and its sync settings reach the stack."""
    doc = tomllib.loads(render_samconfig(load_config(SHIPPED)))
    dev = overrides(doc["dev"]["deploy"]["parameters"]["parameter_overrides"])
    assert dev["EnvironmentName"] == "dev"
    assert dev["WorkerConcurrency"] == "4"  # environments.dev.sync.concurrency
    assert dev["LambdaMemorySize"] == "256"
    assert dev["DeploymentType"] == "AllAtOnce"
    assert dev["EcsThresholdBytes"] == str(20 * GIB)
    assert dev["BottleTags"].split(",")[0] == "arm64_tahoe"
    prod = overrides(doc["prod"]["sync"]["parameters"]["parameter_overrides"])
    assert prod["WorkerConcurrency"] == "8"
    assert prod["DeploymentType"] == "Canary5Percent60Minutes"


def test_stack_parameters_are_strings_and_parameters_win(tmp_path: Path) -> None:
    """GIVEN explicit parameters and booleans THEN explicit wins, everything is a string."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "sync": {"formulae": ["wget", "jq"], "allowed_hosts": ["m.example.org"]},
        "environments": {"qa": {"region": "eu-west-1", "stack_name": "qa-stack",
                                "parameters": {"Layout": "dated", "Flag": True, "Ratio": 0.5}}},
    }))
    params = stack_parameters(load_config(path), "qa")
    assert params["Layout"] == "dated"
    assert params["Flag"] == "true" and params["Ratio"] == "0.5"
    assert params["Formulae"] == "wget,jq" and params["AllowedHosts"] == "m.example.org"
    assert all(isinstance(v, str) for v in params.values())
    section = tomllib.loads(render_section(load_config(path), "qa"))
    assert overrides(section["qa"]["deploy"]["parameters"]["parameter_overrides"]) == params


def test_unknown_environment_is_a_config_error() -> None:
    """GIVEN --env qa on the shipped config THEN ConfigError lists the known environments."""
    with pytest.raises(ConfigError, match=r"known: dev, prod, staging"):
        render_section(load_config(SHIPPED), "qa")


def test_operations_become_stack_parameters_and_tags() -> None:
    """GIVEN the shipped config WHEN rendered THEN alarms, rollback rules, notifications and
    rollout reach the stack as parameters, and the four tags as `sam deploy` tags."""
    doc = tomllib.loads(render_samconfig(load_config(SHIPPED)))
    prod = overrides(doc["prod"]["deploy"]["parameters"]["parameter_overrides"])
    assert (prod["AlarmErrorRateMax"], prod["AlarmCostMaxUsd"], prod["AlarmStalledSyncs"]) == (
        "5", "10", "2")
    assert (prod["RollbackBottleFailureRate"], prod["RollbackStorageErrorRate"],
            prod["RollbackFunctionErrorRate"]) == ("10", "5", "5")
    assert prod["SlackSecretName"] == "bottlesync/prod/slack-webhook"
    assert (prod["PreTrafficHook"], prod["StateMachineDeploymentType"]) == ("true", "CANARY")
    assert prod["MaxFailureRate"] == "5"
    dev = overrides(doc["dev"]["deploy"]["parameters"]["parameter_overrides"])
    assert "AlertEmail" not in dev and dev["PreTrafficHook"] == "false"
    tags = doc["staging"]["deploy"]["parameters"]["tags"]
    assert tags == ('Project="homebrew-bottles-sync" Environment="staging" '
                    'Owner="platform-team" CostCenter="CC-1042"')
