"""Settings: defaults that match config.yaml, validation that names the key, env round trips."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from bottlesync.config import GIB, Settings, load_config, parse_size
from bottlesync.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "config.yaml"


def write_config(tmp_path: Path, doc: Any) -> Path:
    """A config.yaml holding `doc` (YAML-dumped unless it is already text)."""
    path = tmp_path / "config.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def test_dataclass_defaults_equal_the_shipped_config() -> None:
    """GIVEN the shipped config.yaml WHEN its `sync` is read THEN it equals Settings() exactly."""
    shipped = load_config(SHIPPED)
    assert shipped.settings() == Settings()
    assert shipped.sync["tags"] == list(Settings().tags)


def test_every_settings_field_has_a_schema_entry() -> None:
    """GIVEN each Settings field WHEN set through from_mapping THEN the schema knows the key."""
    defaults = Settings()
    for f in fields(Settings):
        value = getattr(defaults, f.name)
        raw = list(value) if isinstance(value, tuple) else value
        if f.name == "registry_token":
            raw = "tok"
        assert getattr(Settings.from_mapping({f.name: raw}, "t"), f.name) == (
            tuple(raw) if isinstance(raw, list) else raw)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": "8"}, "concurrency"),
        ({"layout": "flat"}, "layout"),
        ({"tags": []}, "tags"),
        ({"tags": ["Arm64"]}, "tags.0"),
        ({"formulae": ["../x"]}, "formulae.0"),
        ({"ecs_threshold": "20 GB"}, "ecs_threshold"),
        ({"attempts": 21}, "attempts"),
        ({"allowed_hosts": ["evil host"]}, "allowed_hosts.0"),
        ({"skip_disabled": "yes"}, "skip_disabled"),
    ],
)
def test_from_mapping_error_names_where_and_key(raw: dict[str, Any], key: str) -> None:
    """GIVEN a bad value WHEN validated THEN ConfigError names the place and the key."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(raw, "config.yaml: sync")
    assert str(caught.value).startswith(f"config.yaml: sync: {key}")


def test_from_mapping_unknown_key_is_named_once() -> None:
    """GIVEN a key Settings does not have THEN the message names it (and `sync` only once)."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"color": True}, "config.yaml: sync")
    assert str(caught.value).startswith("config.yaml: sync: Additional properties")
    assert "'color' was unexpected" in str(caught.value)


def test_from_mapping_lays_over_base_and_converts() -> None:
    """GIVEN a base WHEN a partial mapping is laid over THEN only those keys change."""
    base = Settings(concurrency=3, layout="dated")
    merged = Settings.from_mapping({"tags": ["sonoma"], "ecs_threshold": "1.5 KiB"}, "t", base=base)
    assert merged.tags == ("sonoma",)
    assert merged.ecs_threshold == 1536
    assert (merged.concurrency, merged.layout) == (3, "dated")


@pytest.mark.parametrize(
    ("text", "size"),
    [(5, 5), ("20 GiB", 20 * GIB), ("20GiB", 20 * GIB), ("1.5 KiB", 1536), ("7 B", 7),
     (" 2 MiB ", 2 << 20), ("1 TiB", 1 << 40)],
)
def test_parse_size(text: int | str, size: int) -> None:
    """GIVEN a size in bytes or with a binary unit THEN parse_size gives bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["20 GB", "GiB", "-1 GiB", "", "1,5 KiB"])
def test_parse_size_rejects(text: str) -> None:
    """GIVEN an unreadable size THEN ConfigError quotes it."""
    with pytest.raises(ConfigError, match="is not an integer or"):
        parse_size(text)


def test_from_env_parses_every_type() -> None:
    """GIVEN BOTTLESYNC_* variables THEN lists, ints, floats, bools and sizes are converted."""
    settings = Settings.from_env({
        "BOTTLESYNC_TAGS": "sonoma, arm64_linux,,",
        "BOTTLESYNC_FORMULAE": "wget",
        "BOTTLESYNC_CONCURRENCY": "16",
        "BOTTLESYNC_READ_TIMEOUT": "2.5",
        "BOTTLESYNC_SKIP_DEPRECATED": "TRUE",
        "BOTTLESYNC_SKIP_DISABLED": "0",
        "BOTTLESYNC_ECS_THRESHOLD": "1 GiB",
        "BOTTLESYNC_DEST": "s3://bucket/prefix",
        "BOTTLESYNC_LOW_SPEED_TIME": "1.5",
        "BOTTLESYNC_MAX_BOTTLE_SIZE": "1 MiB",
        "BOTTLESYNC_REGISTRY_HOSTS": "ghcr.io, registry.example:8443",
        "UNRELATED": "x",
    })
    assert settings.tags == ("sonoma", "arm64_linux")
    assert settings.formulae == ("wget",)
    assert settings.concurrency == 16
    assert settings.read_timeout == 2.5
    assert (settings.skip_deprecated, settings.skip_disabled) == (True, False)
    assert settings.ecs_threshold == GIB
    assert settings.dest == "s3://bucket/prefix"
    assert settings.low_speed_time == 1.5
    assert settings.max_bottle_size == 1 << 20
    assert settings.registry_hosts == ("ghcr.io", "registry.example:8443")
    assert Settings.from_env({"BOTTLESYNC_ECS_THRESHOLD": "1024"}).ecs_threshold == 1024


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BOTTLESYNC_CONCURRENCY", "many"),
        ("BOTTLESYNC_ATTEMPTS", "2.5"),
        ("BOTTLESYNC_READ_TIMEOUT", "soon"),
        ("BOTTLESYNC_SKIP_DISABLED", "yes"),
        ("BOTTLESYNC_CONCURRENCY", "0"),
        ("BOTTLESYNC_LAYOUT", "flat"),
        ("BOTTLESYNC_ECS_THRESHOLD", "lots"),
        ("BOTTLESYNC_TAGS", "Bad Tag"),
    ],
)
def test_from_env_bad_value_names_the_variable(variable: str, value: str) -> None:
    """GIVEN a bad variable WHEN read THEN ConfigError names that variable (what the user set)."""
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_to_env_from_env_round_trip() -> None:
    """GIVEN non-default settings WHEN passed through the environment THEN they come back equal."""
    settings = Settings(source="https://example.org/f.json", dest="s3://b/p", layout="dated",
                        tags=("sonoma",), formulae=("wget", "jq"), concurrency=3,
                        ecs_threshold=12345, allowed_hosts=("mirror.example.org",),
                        skip_deprecated=True, skip_disabled=True,
                        seed_manifest="s3://b/seed.json", attempts=2, connect_timeout=1.5,
                        read_timeout=9.0, max_retry_after=0.25, backoff_base=0.0)
    assert Settings.from_env(settings.to_env()) == settings
    assert Settings.from_env(Settings().to_env()) == Settings()


def test_registry_token_never_in_repr_or_env() -> None:
    """GIVEN a token WHEN settings are printed or exported THEN the secret does not appear."""
    settings = Settings(registry_token="s3cr3t-token")
    assert "s3cr3t-token" not in repr(settings)
    assert "s3cr3t-token" not in str(settings.to_env())
    assert "BOTTLESYNC_REGISTRY_TOKEN" not in settings.to_env()


def test_environments_overlay_and_list_known(tmp_path: Path) -> None:
    """GIVEN environments THEN the chosen one's sync overrides the file's; unknown lists all."""
    env = {"region": "us-east-1", "stack_name": "s", "parameters": {}}
    path = write_config(tmp_path, {
        "sync": {"concurrency": 2, "tags": ["sonoma"]},
        "environments": {"dev": {**env, "sync": {"concurrency": 5}}, "prod": env},
    })
    config = load_config(path)
    assert config.settings().concurrency == 2
    assert config.settings("dev").concurrency == 5
    assert config.settings("dev").tags == ("sonoma",)
    assert config.settings("prod") == config.settings()
    with pytest.raises(ConfigError, match=r"no environment 'qa' \(known: dev, prod\)"):
        config.settings("qa")


def test_environment_sync_error_names_the_section(tmp_path: Path) -> None:
    """GIVEN a bad value in an environment's sync THEN the error names that section."""
    env = {"region": "us-east-1", "stack_name": "s", "parameters": {}, "sync": {}}
    config = load_config(write_config(tmp_path, {"environments": {"dev": env}}))
    assert config.settings("dev") == Settings()
    bad = {**env, "sync": {"layout": "flat"}}
    with pytest.raises(ConfigError, match=r"environments\.dev\.sync\.layout"):
        load_config(write_config(tmp_path, {"environments": {"dev": bad}}))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("sync: [unclosed", "not valid YAML"),
        ({"sync": {"concurrency": -1}}, "sync.concurrency"),
        ({"environments": {"dev": {"region": "us-east-1"}}}, "environments.dev"),
        ({"environments": {"dev": {"region": "mars", "stack_name": "s", "parameters": {}}}},
         "environments.dev.region"),
        ({"extra": 1}, "(top)"),
    ],
)
def test_load_config_errors_name_file_and_key(
    tmp_path: Path, content: Any, needle: str
) -> None:
    """GIVEN a broken config WHEN loaded THEN ConfigError names the file and the key."""
    path = write_config(tmp_path, content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))
    assert needle in str(caught.value)


def test_load_config_missing_and_empty(tmp_path: Path) -> None:
    """GIVEN no file THEN ConfigError names it; GIVEN an empty file THEN defaults apply."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read config"):
        load_config(tmp_path / "nope.yaml")
    empty = load_config(write_config(tmp_path, ""))
    assert empty.settings() == Settings()
    assert empty.environments == {}


@pytest.mark.parametrize(("env", "trusted", "bundle"), [
    ({}, False, None),
    ({"HTTPS_PROXY": "http://proxy.corp:3128"}, True, None),
    ({"https_proxy": ""}, False, None),
    ({"REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem"}, False, "/etc/corp-ca.pem"),
    ({"CURL_CA_BUNDLE": "/etc/b.pem", "REQUESTS_CA_BUNDLE": "/etc/a.pem"}, False, "/etc/a.pem"),
    ({"CURL_CA_BUNDLE": "/etc/b.pem", "BOTTLESYNC_CA_BUNDLE": "/etc/mine.pem"}, False,
     "/etc/mine.pem"),
    ({"HTTPS_PROXY": "http://proxy.corp:3128", "BOTTLESYNC_TRUST_ENV": "false"}, False, None),
])
def test_proxy_and_ca_variables_are_read_at_the_edge(env: dict[str, str], trusted: bool,
                                                     bundle: str | None) -> None:
    """GIVEN proxy variables THEN trust_env (requests sends); GIVEN a CA bundle variable THEN
    ca_bundle names it (the lean transport verifies against it), in requests' order, unless
    set explicitly (the domain never reads os.environ)."""
    settings = Settings.from_env(env)
    assert (settings.trust_env, settings.ca_bundle) == (trusted, bundle)


@pytest.mark.parametrize("doc", [
    {"sync": {"registry_token": "ghp_x"}},
    {"environments": {"dev": {"region": "us-west-2", "stack_name": "s", "parameters": {},
                              "sync": {"registry_token": "ghp_x"}}}},
])
def test_registry_token_in_the_config_file_is_refused(tmp_path: Path, doc: Any) -> None:
    """GIVEN registry_token in config.yaml THEN ConfigError says to use the variable instead."""
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, doc))
    assert "registry_token" in str(caught.value)
    assert "BOTTLESYNC_REGISTRY_TOKEN" in str(caught.value)
    assert "ghp_x" not in str(caught.value)


def test_the_aws_edges_never_read_the_token_from_a_plain_variable() -> None:
    """GIVEN BOTTLESYNC_REGISTRY_TOKEN in a Lambda/task environment THEN ConfigError (use the
    Secrets Manager secret), never a silently used plain-text token."""
    with pytest.raises(ConfigError, match="Secrets Manager"):
        Settings.from_env({"BOTTLESYNC_REGISTRY_TOKEN": "ghp_x"})


def test_new_bounds_and_registry_hosts_are_validated() -> None:
    """GIVEN bad bound or registry host values THEN ConfigError names the key."""
    for raw, key in (({"low_speed_limit": 0}, "low_speed_limit"),
                     ({"low_speed_time": 0}, "low_speed_time"),
                     ({"max_bottle_size": "64 GB"}, "max_bottle_size"),
                     ({"registry_hosts": ["https://ghcr.io"]}, "registry_hosts.0")):
        with pytest.raises(ConfigError, match=key):
            Settings.from_mapping(raw, "t")
    assert Settings.from_mapping({"max_bottle_size": "1 GiB"}, "t").max_bottle_size == GIB
def shipped_environment(env: str) -> dict[str, Any]:
    """One environment of the shipped config.yaml as plain data (anchors expanded)."""
    data = yaml.safe_load(SHIPPED.read_text())
    return dict(data["environments"][env])


@pytest.mark.parametrize(("change", "named"), [
    ({"alarms": {"error_rate_max": 150}}, "error_rate_max"),
    ({"alarms": {"rollback": {"storage_error_rate": -1}}}, "storage_error_rate"),
    ({"alarms": {"cost_max_usd": "ten"}}, "cost_max_usd"),
    ({"notifications": {"pager_url": "http://pager.example/x"}}, "pager_url"),
    ({"notifications": {"email": "not-an-address"}}, "email"),
    ({"notifications": {"email": ["a@example.com", "not-an-address"]}}, "email"),
    ({"notifications": {"email": [f"ops{n}@example.com" for n in range(6)]}}, "email"),
    ({"notifications": {"email": []}}, "email"),
    ({"notifications": {"email": ["a@example.com", "a@example.com"]}}, "email"),
    ({"deployment": {"type": "Canary50Percent"}}, "type"),
    ({"tags": {"Owner": ""}}, "Owner"),
])
def test_operations_settings_are_validated_and_named(tmp_path: Path, change: dict[str, Any],
                                                     named: str) -> None:
    """GIVEN a bad alarm threshold, notification target, rollout or tag in an environment
    WHEN the config loads THEN ConfigError names the file and the key."""
    prod = shipped_environment("prod")
    for section, values in change.items():
        merged = dict(prod.get(section, {}))
        for key, value in values.items():
            merged[key] = ({**merged[key], **value} if isinstance(value, dict) else value)
        prod[section] = merged
    path = write_config(tmp_path, {"environments": {"prod": prod}})
    with pytest.raises(ConfigError, match=rf"config\.yaml.*{named}"):
        load_config(path)


def test_a_missing_tag_is_named(tmp_path: Path) -> None:
    """Every environment's tags need all four keys."""
    prod = shipped_environment("prod")
    prod["tags"] = {k: v for k, v in prod["tags"].items() if k != "CostCenter"}
    with pytest.raises(ConfigError, match="CostCenter"):
        load_config(write_config(tmp_path, {"environments": {"prod": prod}}))


def test_max_failure_rate_is_a_percentage(tmp_path: Path) -> None:
    """sync.max_failure_rate: 0-100 (percent of planned bottles), default 5."""
    assert Settings().max_failure_rate == 5.0
    with pytest.raises(ConfigError, match="max_failure_rate"):
        Settings.from_mapping({"max_failure_rate": 101}, "t")
    assert Settings.from_env({"BOTTLESYNC_MAX_FAILURE_RATE": "2.5"}).max_failure_rate == 2.5
