"""samconfig.toml rendered from config.yaml: one source for the CLI and every deployment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bottlesync.config import ConfigFile

HEADER = ("# Rendered from config.yaml by `make samconfig`: do not edit by hand.\n"
          "version = 0.1\n")


def stack_parameters(config: ConfigFile, env: str) -> dict[str, str]:
    """The template parameters of one environment: its `parameters` plus its sync settings."""
    section = config.environment(env)
    settings = config.settings(env)
    derived: dict[str, Any] = {
        "EnvironmentName": env,
        "SourceUrl": settings.source,
        "BottleTags": ",".join(settings.tags),
        "Formulae": ",".join(settings.formulae),
        "Layout": settings.layout,
        "EcsThresholdBytes": settings.ecs_threshold,
        "WorkerConcurrency": settings.concurrency,
        "AllowedHosts": ",".join(settings.allowed_hosts),
    }
    merged = {**derived, **section["parameters"]}
    return {k: _text(v) for k, v in merged.items()}


def _text(value: Any) -> str:
    """A parameter value as CloudFormation reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _toml(value: Any) -> str:
    """A TOML scalar (strings are JSON-quoted, which TOML basic strings accept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def render_section(config: ConfigFile, env: str) -> str:
    """The `[env]` tables of samconfig.toml."""
    section = config.environment(env)
    params = stack_parameters(config, env)
    overrides = " ".join(f"{k}={json.dumps(v)}" for k, v in params.items())
    tables: dict[str, Mapping[str, Any]] = {
        "global": {"stack_name": section["stack_name"], "region": section["region"]},
        "build": {"cached": True, "parallel": True},
        "validate": {"lint": True},
        "deploy": {"capabilities": "CAPABILITY_IAM", "confirm_changeset": env == "prod",
                   "resolve_s3": True, "s3_prefix": section["stack_name"],
                   "parameter_overrides": overrides},
        "sync": {"watch": False, "parameter_overrides": overrides},
    }
    lines = []
    for command, values in tables.items():
        lines.append(f"[{env}.{command}.parameters]")
        lines.extend(f"{key} = {_toml(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def render_samconfig(config: ConfigFile) -> str:
    """The whole samconfig.toml: every environment, in the file's order."""
    return HEADER + "\n" + "\n".join(render_section(config, env) for env in config.environments)
