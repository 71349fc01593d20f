"""Step Functions event shapes: parse what a state hands a Lambda, shape what it hands back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bottlesync.bottle import LAYOUTS, PlanItem, in_layout
from bottlesync.commit import RunReport, record_key
from bottlesync.config import Settings
from bottlesync.errors import ConfigError, InvalidInput
from bottlesync.plan import Plan, check_run_id, plan_key, summary_key
from bottlesync.storage import S3Storage, Storage

MAX_FAILURES = 20


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """An integer >= 1 from the environment; ConfigError names the variable."""
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"environment variable {name}={text!r} is not an integer >= 1")
    return int(text)


@dataclass(frozen=True)
class HandlerConfig:
    """The adapters' own settings (batching, alerting): not part of a sync's Settings."""

    max_items_per_batch: int = 50
    map_max_concurrency: int = 20
    slack_secret_arn: str | None = None
    alert_topic_arn: str | None = None
    critical_failures: int = 50

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HandlerConfig:
        """Read MAX_ITEMS_PER_BATCH, MAP_MAX_CONCURRENCY, SLACK_SECRET_ARN, ALERT_TOPIC_ARN..."""
        return cls(max_items_per_batch=_positive_int(env, "MAX_ITEMS_PER_BATCH",
                                                     cls.max_items_per_batch),
                   map_max_concurrency=_positive_int(env, "MAP_MAX_CONCURRENCY",
                                                     cls.map_max_concurrency),
                   slack_secret_arn=env.get("SLACK_SECRET_ARN") or None,
                   alert_topic_arn=env.get("ALERT_TOPIC_ARN") or None,
                   critical_failures=_positive_int(env, "CRITICAL_FAILURES",
                                                   cls.critical_failures))


def _object(event: object, where: str) -> dict[str, Any]:
    """The event as a JSON object, or InvalidInput."""
    if not isinstance(event, dict):
        raise InvalidInput(f"{where}: event must be a JSON object, not {type(event).__name__}")
    return event


def bucket_key(storage: Storage, key: str) -> str:
    """A key as the bucket sees it (prefix included): what ItemReader and ResultWriter need."""
    return (storage.prefix + key) if isinstance(storage, S3Storage) else key


def run_id_of(event: object, where: str) -> str:
    """The checked `run_id` of an event such as Commit run's {"run_id"}."""
    return check_run_id(_object(event, where).get("run_id"), where)


def task_error_of(event: object, where: str) -> dict[str, str] | None:
    """Commit run's optional `task_error` ({Error, Cause} of a failed Fargate task), checked."""
    error = _object(event, where).get("task_error")
    if error is None:
        return None
    if not isinstance(error, dict) or not isinstance(error.get("Error"), str):
        raise InvalidInput(f"{where}: task_error must be an object with a string 'Error'")
    return {"Error": error["Error"][:200], "Cause": str(error.get("Cause", ""))[:2000]}


@dataclass(frozen=True)
class PlanSyncRequest:
    """The schedule's input: optional `formulae` (narrows the sync) and `dry_run`."""

    formulae: tuple[str, ...] | None = None
    dry_run: bool = False

    @classmethod
    def from_event(cls, event: object) -> PlanSyncRequest:
        """Parse `{}` or `{"formulae": [...], "dry_run": false}`; InvalidInput names the key."""
        data = _object(event, "plan_sync")
        unknown = sorted(set(data) - {"formulae", "dry_run"})
        if unknown:
            raise InvalidInput(f"plan_sync: unknown key(s) {', '.join(unknown)} in the input")
        formulae = data.get("formulae")
        if formulae is not None and (not isinstance(formulae, list)
                                     or not all(isinstance(f, str) for f in formulae)):
            raise InvalidInput(f"plan_sync: formulae {formulae!r} is not a list of names")
        dry_run = data.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise InvalidInput(f"plan_sync: dry_run {dry_run!r} is not true or false")
        return cls(tuple(formulae) if formulae is not None else None, dry_run)

    def apply(self, settings: Settings) -> Settings:
        """The configured Settings with this request's overrides (validated like config.yaml)."""
        if self.dry_run:  # a dry run fetches no API file (nothing would publish it)
            settings = replace(settings, api=False)
        if self.formulae is None:
            return settings
        return Settings.from_mapping({"formulae": list(self.formulae)}, "plan_sync input",
                                     base=settings)

    def to_write(self, plan: Plan) -> Plan:
        """What to store: a dry run records its counts but an empty plan, so nothing is fetched."""
        return replace(plan, items=[]) if self.dry_run else plan


def plan_sync_output(plan: Plan, written: Plan, storage: Storage,
                     config: HandlerConfig) -> dict[str, Any]:
    """Plan sync's small output: counts and keys for the Choice, the Map and the container."""
    return {"run_id": plan.run_id,
            "bucket": storage.bucket if isinstance(storage, S3Storage) else "",
            "base": storage.base, "layout": plan.layout,
            "plan_key": bucket_key(storage, plan_key(plan.run_id)),
            "summary_key": bucket_key(storage, summary_key(plan.run_id)),
            "selected": plan.selected, "present": plan.present, "planned": len(plan.items),
            "planned_bytes": plan.planned_bytes, "route": written.route,
            "to_fetch": len(written.items), "ecs_threshold": plan.threshold,
            "invalid": len(plan.invalid),
            "max_items_per_batch": config.max_items_per_batch,
            "map_max_concurrency": config.map_max_concurrency,
            "map_results_prefix": bucket_key(storage, f"runs/{plan.run_id}/map/"),
            "catalogue": "not modified" if plan.unchanged else "fetched",
            **({"dry_run": True, "would_route": plan.route} if written is not plan else {})}


@dataclass(frozen=True)
class BatchInput:
    """One ItemBatcher batch: plan items plus the run they belong to."""

    run_id: str
    base: str
    layout: str
    items: tuple[PlanItem, ...]

    @classmethod
    def from_event(cls, event: object, *, base: str) -> BatchInput:
        """Parse and re-validate a batch; its base must be ours (`base`), never another bucket."""
        data = _object(event, "mirror_batch")
        shared = _object(data.get("BatchInput"), "mirror_batch: BatchInput")
        run_id = check_run_id(shared.get("run_id"), "mirror_batch: BatchInput")
        if shared.get("base") != base:
            raise InvalidInput(f"mirror_batch: BatchInput.base {shared.get('base')!r} "
                               f"is not this function's destination {base!r}")
        layout = shared.get("layout")
        if layout not in LAYOUTS:
            raise InvalidInput(f"mirror_batch: BatchInput.layout {layout!r} is not one of "
                               f"{', '.join(LAYOUTS)}")
        raw = data.get("Items")
        if not isinstance(raw, list):
            raise InvalidInput("mirror_batch: Items must be a JSON array of plan items")
        items = tuple(PlanItem.from_dict(d, f"mirror_batch: Items[{i}]")
                      for i, d in enumerate(raw))
        for i, item in enumerate(items):
            if not in_layout(item.bottle, item.key, str(layout)):
                raise InvalidInput(f"mirror_batch: Items[{i}].key {item.key!r} is not a "
                                   f"{layout} key")
        return cls(run_id=run_id, base=base, layout=str(layout), items=items)


def commit_output(report: RunReport, storage: Storage) -> dict[str, Any]:
    """Commit run's output: the CLI's JSON with the first failures only, plus the record key."""
    out = report.to_json()
    out["failures"] = out["failures"][:MAX_FAILURES]
    out["failures_total"] = report.failed
    out["invalid_entries"] = sum(1 for f in report.failures if f.error == "InvalidEntry")
    out["record_key"] = bucket_key(storage, record_key(report.run_id))
    out["estimated_cost_usd"] = report.estimated_cost_usd
    out["landed"] = report.landed
    if report.verdict is not None:
        out.update(report.verdict.to_json())
    return out
