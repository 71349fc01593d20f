"""Settings: built once at the edge (config.yaml, environment, flags) and passed down."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bottlesync.errors import ConfigError
from bottlesync.schemas import first_error

DEFAULT_SOURCE = "https://formulae.brew.sh/api/formula.jws.json"
DEFAULT_TAGS = ("arm64_tahoe", "arm64_sequoia", "arm64_sonoma", "sonoma", "arm64_linux",
                "x86_64_linux")
GIB = 1 << 30
_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": GIB, "TiB": 1 << 40}
_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?(B|KiB|MiB|GiB|TiB)")
ENV_PREFIX = "BOTTLESYNC_"
TOKEN_VARIABLE = "BOTTLESYNC_REGISTRY_TOKEN"


def parse_size(value: int | str) -> int:
    """Bytes from an integer or a '20 GiB' style string."""
    if isinstance(value, int):
        return value
    match = _SIZE_RE.fullmatch(value.strip())
    if not match:
        raise ConfigError(f"size {value!r} is not an integer or '<n> B|KiB|MiB|GiB|TiB'")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class Settings:
    """Everything a sync needs to know; immutable so it can be shared by threads."""

    source: str = DEFAULT_SOURCE
    dest: str = "./mirror"
    layout: str = "bottle-domain"
    tags: tuple[str, ...] = DEFAULT_TAGS
    formulae: tuple[str, ...] = ()
    concurrency: int = 8
    ecs_threshold: int = 20 * GIB
    allowed_hosts: tuple[str, ...] = ()
    skip_deprecated: bool = False
    skip_disabled: bool = False
    seed_manifest: str | None = None
    registry_token: str | None = field(default=None, repr=False)
    attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retry_after: float = 60.0
    backoff_base: float = 0.5
    trust_env: bool = False
    ca_bundle: str | None = None  # a PEM bundle to verify https against instead of certifi's
    api: bool = True
    api_public_key: str | None = None
    registry_hosts: tuple[str, ...] = ("ghcr.io",)
    max_bottle_size: int = 64 * GIB
    low_speed_limit: int = 1024
    low_speed_time: float = 60.0
    public_url: str | None = None  # where clients reach the mirror: the status page prints it
    strict_tags: bool = False  # a tag the catalogue lacks: error (--tag) or note (configured)
    max_failure_rate: float = 5.0  # percent of planned bottles; above it a sync is FAILED

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str,
                     base: Settings | None = None) -> Settings:
        """Validate a `sync:` mapping (config file, env or flags) and lay it over `base`."""
        problem = None if _plainly_valid(raw) else first_error("config", {"sync": dict(raw)})
        if problem is not None:
            raise ConfigError(f"{where}: {problem.removeprefix('sync.').removeprefix('sync: ')}")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _SIZES:
                values[key] = parse_size(value)
            elif isinstance(value, list):
                values[key] = tuple(value)
            else:
                values[key] = value
        return replace(base or cls(), **values)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings for a Lambda or container: BOTTLESYNC_<FIELD> variables over the defaults."""
        raw: dict[str, Any] = {}
        if env.get(TOKEN_VARIABLE):
            raise ConfigError(f"environment variable {TOKEN_VARIABLE} is not read here: on AWS the "
                              f"registry token comes from Secrets Manager (RegistryTokenSecretArn)")
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name in env:
                raw[f.name] = _from_text(f.name, env[name], name)
                problem = first_error("config", {"sync": {f.name: raw[f.name]}})
                if problem is not None:  # name the variable the user set, not only the key
                    raise ConfigError(f"environment variable {name}: "
                                      f"{problem.removeprefix('sync.')}")
        return from_network_env(cls.from_mapping(raw, "environment"), env, raw)

    def to_env(self) -> dict[str, str]:
        """The BOTTLESYNC_* variables that `from_env` reads back (for the container overrides)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name == "registry_token":
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            out[ENV_PREFIX + f.name.upper()] = str(value)
        return out


_NON_EMPTY_STRINGS = frozenset({"source", "dest"})  # the schema's only rule for them: minLength 1


def _plainly_valid(raw: Mapping[str, Any]) -> bool:
    """True for the common flags-only mapping (--source, --dest) that the schema surely accepts:
    such a run never imports jsonschema. False means "ask the schema"."""
    return all(key in _NON_EMPTY_STRINGS and type(value) is str and value
               for key, value in raw.items())


_LISTS = {"tags", "formulae", "allowed_hosts", "registry_hosts"}
_INTS = {"concurrency", "attempts", "low_speed_limit"}
_FLOATS = {"connect_timeout", "read_timeout", "max_retry_after", "backoff_base", "low_speed_time",
           "max_failure_rate"}
_SIZES = {"ecs_threshold", "max_bottle_size"}
_BOOLS = {"skip_deprecated", "skip_disabled", "trust_env", "api", "strict_tags"}
PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' own order


def uses_proxy_env(env: Mapping[str, str]) -> bool:
    """True when proxy variables are set, so requests (which knows them) must send."""
    return any(name.lower() in PROXY_VARIABLES and value for name, value in env.items())


def from_network_env(settings: Settings, env: Mapping[str, str],
                     chosen: Collection[str]) -> Settings:
    """The edge's reading of the network variables, unless `chosen` (what the user set)
    decides: proxies turn trust_env on; a CA bundle variable names the bundle the lean
    transport verifies against (a bundle alone does not need requests)."""
    if uses_proxy_env(env) and "trust_env" not in chosen:
        settings = replace(settings, trust_env=True)
    bundle = next((env[name] for name in CA_VARIABLES if env.get(name)), None)
    if bundle and "ca_bundle" not in chosen:
        settings = replace(settings, ca_bundle=bundle)
    return settings


def _from_text(name: str, text: str, variable: str) -> Any:
    """Convert one environment variable's text to the field's type; ConfigError names it."""
    try:
        if name in _LISTS:
            return [part.strip() for part in text.split(",") if part.strip()]
        if name in _INTS:
            return int(text)
        if name in _FLOATS:
            return float(text)
        if name in _BOOLS:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if name in _SIZES and text.isdigit():
            return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {variable}={text!r} is not a valid {name}"
                          ) from None
    return text


@dataclass(frozen=True)
class ConfigFile:
    """A parsed config.yaml: the `sync` defaults and the per-environment sections."""

    path: str
    sync: Mapping[str, Any]
    environments: Mapping[str, Mapping[str, Any]]

    def settings(self, env: str | None = None) -> Settings:
        """Settings from the file's `sync`, then the chosen environment's `sync` overrides."""
        settings = Settings.from_mapping(self.sync, f"{self.path}: sync")
        if env is None:
            return settings
        section = self.environment(env)
        where = f"{self.path}: environments.{env}.sync"
        return Settings.from_mapping(section.get("sync", {}), where, base=settings)

    def environment(self, env: str) -> Mapping[str, Any]:
        """One environment's section; ConfigError lists the known ones."""
        if env not in self.environments:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(f"{self.path}: no environment {env!r} (known: {known})")
        return self.environments[env]


def load_config(path: str | Path) -> ConfigFile:
    """Read and validate config.yaml; ConfigError names the file and the offending key."""
    import yaml  # only a run with a config file pays for it

    where = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read config: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    problem = first_error("config", data)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    _refuse_token(data, where)
    return ConfigFile(path=where, sync=data.get("sync", {}),
                      environments=data.get("environments", {}))


def _refuse_token(data: Mapping[str, Any], where: str) -> None:
    """A secret in a committed file leaks: the token comes from the environment alone."""
    sections = {"sync": data.get("sync") or {}}
    for env, section in (data.get("environments") or {}).items():
        sections[f"environments.{env}.sync"] = section.get("sync") or {}
    for name, section in sections.items():
        if "registry_token" in section:
            raise ConfigError(f"{where}: {name}.registry_token: a secret does not belong in the "
                              f"config file; set {TOKEN_VARIABLE} in the environment instead")
