"""samconfig.toml rendered from config.yaml: one source for the CLI and every deployment."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bottlesync.config import ConfigFile
from bottlesync.errors import ConfigError

ALARM_PARAMETERS = {"success_rate_min": "AlarmSuccessRateMin",
                    "duration_minutes": "AlarmDurationMinutes",
                    "stalled_syncs": "AlarmStalledSyncs", "error_rate_max": "AlarmErrorRateMax",
                    "lambda_duration_percent": "AlarmLambdaDurationPercent",
                    "ecs_success_rate_min": "AlarmEcsSuccessRateMin",
                    "upload_success_rate_min": "AlarmUploadSuccessRateMin",
                    "cost_max_usd": "AlarmCostMaxUsd"}
ROLLBACK_PARAMETERS = {"function_error_rate": "RollbackFunctionErrorRate",
                       "bottle_failure_rate": "RollbackBottleFailureRate",
                       "storage_error_rate": "RollbackStorageErrorRate"}
NOTIFY_PARAMETERS = {"slack_secret": "SlackSecretName", "email": "AlertEmail",
                     "pager_url": "PagerUrl"}
# notifications.email: one address or up to five, one template parameter (and subscription) each
EMAIL_PARAMETERS = ("AlertEmail", "AlertEmail2", "AlertEmail3", "AlertEmail4", "AlertEmail5")
DEPLOY_PARAMETERS = {"type": "DeploymentType", "pre_traffic_hook": "PreTrafficHook",
                     "state_machine": "StateMachineDeploymentType"}
# The same pattern as template.yaml's ImageUri AllowedPattern.
IMAGE_BY_DIGEST = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}")
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
        "MaxFailureRate": settings.max_failure_rate,
        **operations(section),
    }
    where = f"{config.path}: environments.{env}"
    merged = {**derived, **_posture_parameters(section, where), **section["parameters"]}
    _check_posture(merged, where)
    return {k: _text(v) for k, v in merged.items()}


def operations(section: Mapping[str, Any]) -> dict[str, Any]:
    """Alarm thresholds, notification targets and rollout settings as template parameters."""
    alarms = section.get("alarms", {})
    pairs = [(alarms, ALARM_PARAMETERS), (alarms.get("rollback", {}), ROLLBACK_PARAMETERS),
             (section.get("notifications", {}), NOTIFY_PARAMETERS),
             (section.get("deployment", {}), DEPLOY_PARAMETERS)]
    found = {name: values[key] for values, names in pairs for key, name in names.items()
             if key in values}
    return {slot: address for name, value in found.items()
            for slot, address in (email_slots(value) if name == "AlertEmail"
                                  else {name: value}).items()}


def email_slots(email: str | list[str]) -> dict[str, str]:
    """AlertEmail..AlertEmail5 from one address or a list; every slot rendered, unused ones
    empty, so a shorter list unsubscribes the dropped addresses (sam deploy would otherwise keep
    their previous values)."""
    addresses = [email] if isinstance(email, str) else list(email)
    return {slot: addresses[i] if i < len(addresses) else ""
            for i, slot in enumerate(EMAIL_PARAMETERS)}


def stack_tags(config: ConfigFile, env: str) -> str:
    """`sam deploy --tags`: CloudFormation puts the stack's tags on every taggable resource."""
    tags = config.environment(env).get("tags", {})
    return " ".join(f"{key}={json.dumps(str(value))}" for key, value in tags.items())
def _posture_parameters(section: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Network, key and concurrency parameters from the environment's `network`, `kms`, ...."""
    params: dict[str, Any] = {}
    network = section.get("network")
    if network is not None:
        params.update({"VpcCidr": network["cidr"],
                       "NatGateways": network.get("nat_gateways", 1),
                       "PublicSubnets": network.get("public_subnets", False),
                       "LambdaInVpc": network.get("lambda_in_vpc", False),
                       "AllowHttpEgress": network.get("allow_http", False),
                       "UpstreamProxy": network.get("proxy", "")})
    if "kms" in section:
        params["UseKmsKey"] = section["kms"]
    if "mirror_batch_reserved_concurrency" in section:
        params["MirrorBatchReservedConcurrency"] = section["mirror_batch_reserved_concurrency"]
    return params


def _check_posture(params: Mapping[str, Any], where: str) -> None:
    """Refuse combinations that deploy fine but cannot reach the upstream or throttle the Map."""
    no_nat = str(params.get("NatGateways", 1)) == "0"
    public = _text(params.get("PublicSubnets", False)) == "true"
    lambdas = _text(params.get("LambdaInVpc", False)) == "true"
    if no_nat and not params.get("UpstreamProxy") and (lambdas or not public):
        raise ConfigError(f"{where}.network: nat_gateways 0 leaves the private subnets without a "
                          "route to the upstream: set `proxy` (or a NAT gateway)")
    reserved = params.get("MirrorBatchReservedConcurrency")
    wanted = params.get("MapMaxConcurrency")
    if reserved is not None and wanted is not None and int(reserved) < int(wanted):
        raise ConfigError(f"{where}.mirror_batch_reserved_concurrency: {reserved} is below "
                          f"parameters.MapMaxConcurrency {wanted} (the Map would be throttled)")


def deploy_overrides(config: ConfigFile, env: str, image_uri: str) -> str:
    """`sam deploy --parameter-overrides` for one environment, refusing a missing or tagged image.

    The Fargate route runs this image: only an immutable digest reference may be deployed.
    """
    if not IMAGE_BY_DIGEST.fullmatch(image_uri):
        shown = repr(image_uri) if image_uri else "missing"
        raise ConfigError(f"image {shown}: the Fargate route needs an image by digest, "
                          "<registry>/<repository>@sha256:<64 hex> (make image prints it)")
    return _overrides({**stack_parameters(config, env), "ImageUri": image_uri})


def _overrides(params: Mapping[str, str]) -> str:
    """Parameters as SAM's `K="v" ...` words."""
    return " ".join(f"{k}={json.dumps(v)}" for k, v in params.items())


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
    overrides = _overrides(params)
    tables: dict[str, Mapping[str, Any]] = {
        "global": {"stack_name": section["stack_name"], "region": section["region"]},
        "build": {"cached": True, "parallel": True},
        "validate": {"lint": True},
        "deploy": {"capabilities": "CAPABILITY_IAM", "confirm_changeset": env == "prod",
                   "resolve_s3": True, "s3_prefix": section["stack_name"],
                   "parameter_overrides": overrides,
                   **({"tags": stack_tags(config, env)} if section.get("tags") else {})},
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
