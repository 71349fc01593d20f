"""samconfig.toml rendered from config.yaml: valid TOML, one section per environment, its values."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from bottlesync import cli, cli_deploy
from bottlesync.config import GIB, load_config
from bottlesync.deploy import deploy_overrides, render_samconfig, render_section, stack_parameters
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
DIGEST = "123456789012.dkr.ecr.us-east-1.amazonaws.com/homebrew-bottles-sync@sha256:" + "ab" * 32


def _env_config(tmp_path: Path, **section: object) -> Path:
    """A config.yaml with one environment `qa` carrying `section`."""
    path = tmp_path / "config.yaml"
    env = {"region": "eu-west-1", "stack_name": "qa-stack",
           "parameters": {"MapMaxConcurrency": 10}, **section}
    path.write_text(yaml.safe_dump({"environments": {"qa": env}}))
    return path


@pytest.mark.parametrize(("email", "slots"), [
    ("ops@example.com", ["ops@example.com", "", "", "", ""]),
    (["a@example.com", "b@example.com"], ["a@example.com", "b@example.com", "", "", ""]),
    ([f"o{n}@example.com" for n in range(5)], [f"o{n}@example.com" for n in range(5)]),
])
def test_email_recipients_fill_the_five_parameters(tmp_path: Path, email: object,
                                                   slots: list[str]) -> None:
    """GIVEN notifications.email as one address or a list THEN AlertEmail..AlertEmail5 carry
    them in order, every slot rendered (an emptied one unsubscribes on the next deploy)."""
    doc = yaml.safe_load(SHIPPED.read_text())
    doc["environments"]["prod"]["notifications"]["email"] = email
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    params = stack_parameters(load_config(path), "prod")
    names = ["AlertEmail", "AlertEmail2", "AlertEmail3", "AlertEmail4", "AlertEmail5"]
    assert [params[name] for name in names] == slots


def test_shipped_environments_have_their_own_network_and_posture() -> None:
    """GIVEN the operators' table THEN each environment renders its VPC, NATs, key and cap."""
    config = load_config(SHIPPED)
    expected = {"dev": ("10.0.0.0/16", "1", "false", "10"),
                "staging": ("10.1.0.0/16", "1", "false", "50"),
                "prod": ("10.2.0.0/16", "2", "true", "100")}
    for env, (cidr, nat, kms, reserved) in expected.items():
        params = stack_parameters(config, env)
        assert (params["VpcCidr"], params["NatGateways"], params["UseKmsKey"],
                params["MirrorBatchReservedConcurrency"]) == (cidr, nat, kms, reserved)
        assert params["PublicSubnets"] == "false" and params["AllowHttpEgress"] == "false"


def test_no_nat_without_a_proxy_is_refused(tmp_path: Path) -> None:
    """GIVEN private subnets, no NAT and no proxy THEN ConfigError names the network key."""
    path = _env_config(tmp_path, network={"cidr": "10.9.0.0/16", "nat_gateways": 0})
    with pytest.raises(ConfigError, match=r"environments\.qa\.network: nat_gateways 0"):
        stack_parameters(load_config(path), "qa")
    path = _env_config(tmp_path, network={"cidr": "10.9.0.0/16", "nat_gateways": 0,
                                          "proxy": "http://proxy.corp.example:443"})
    params = stack_parameters(load_config(path), "qa")
    assert params["UpstreamProxy"] == "http://proxy.corp.example:443"


def test_reserved_concurrency_below_the_map_is_refused(tmp_path: Path) -> None:
    """GIVEN a cap under MapMaxConcurrency THEN the Map would be throttled: ConfigError."""
    path = _env_config(tmp_path, mirror_batch_reserved_concurrency=5)
    with pytest.raises(ConfigError, match=r"mirror_batch_reserved_concurrency: 5 is below"):
        stack_parameters(load_config(path), "qa")


def test_bad_cidr_is_a_schema_error(tmp_path: Path) -> None:
    """GIVEN a network that is not a 10.x /16 THEN load_config names the key."""
    path = _env_config(tmp_path, network={"cidr": "192.168.0.0/24"})
    with pytest.raises(ConfigError, match="cidr"):
        load_config(path)


@pytest.mark.parametrize("image", ["", "repo/bottlesync:latest",
                                   "123456789012.dkr.ecr.us-east-1.amazonaws.com/r:abc123",
                                   DIGEST[:-1]])
def test_deploy_refuses_a_missing_or_tagged_image(image: str) -> None:
    """GIVEN no image or a mutable tag THEN the Fargate route is not deployed: ConfigError."""
    with pytest.raises(ConfigError, match="needs an image by digest"):
        deploy_overrides(load_config(SHIPPED), "dev", image)


def test_deploy_overrides_carry_the_digest() -> None:
    """GIVEN a digest THEN the overrides are samconfig's plus ImageUri."""
    config = load_config(SHIPPED)
    words = overrides(deploy_overrides(config, "staging", DIGEST))
    assert words == {**stack_parameters(config, "staging"), "ImageUri": DIGEST}


def test_cli_deploy_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN the edge THEN exit 2 with one line naming the image, or 0 with the overrides."""
    assert cli_deploy.main(["--config", str(SHIPPED), "--env", "dev"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "image missing" in err
    assert cli_deploy.main(["--config", str(SHIPPED), "--env", "dev", "--image", DIGEST]) == 0
    assert overrides(capsys.readouterr().out)["ImageUri"] == DIGEST


def test_config_validate_refuses_a_network_without_a_route(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    """GIVEN `bottlesync config validate` on a no-NAT, no-proxy env THEN exit 2, one line."""
    path = _env_config(tmp_path, network={"cidr": "10.9.0.0/16", "nat_gateways": 0})
    assert cli.main(["config", "validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "environments.qa.network: nat_gateways 0" in err


def test_each_environment_renders_its_own_schedule() -> None:
    """GIVEN the shipped config.yaml THEN prod syncs every 15 minutes, staging hourly, dev daily
    (the schedule the README's idle-month cost is priced for)."""
    doc = tomllib.loads(render_samconfig(load_config(SHIPPED)))
    schedules = {env: overrides(doc[env]["deploy"]["parameters"]["parameter_overrides"])
                 ["ScheduleExpression"] for env in ("dev", "staging", "prod")}
    assert schedules == {"dev": "cron(17 3 * * ? *)", "staging": "rate(1 hour)",
                         "prod": "rate(15 minutes)"}
