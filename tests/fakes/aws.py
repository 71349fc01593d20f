"""AWS side of the tests: the real Lambda handlers, a fake Lambda context, and a harness that runs
the shipped state machine in moto's Step Functions interpreter with invokes routed in-process.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import re
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, NoReturn

import boto3
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    distributed_iteration_component as distributed_map,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_ecs as ecs_service,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from bottlesync import batch

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "statemachine" / "mirror.asl.json"
EVENTS = ROOT / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "bottles-mirror-test"
# module directory <-> SAM resource name (the serverless contract's naming chain)
FUNCTIONS = {"plan_sync": "PlanSyncFunction", "mirror_batch": "MirrorBatchFunction",
             "commit_run": "CommitRunFunction", "notify": "NotifyFunction"}
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
           "POWERTOOLS_SERVICE_NAME": "bottlesync-test",
           "POWERTOOLS_METRICS_NAMESPACE": "BottlesyncTest", "POWERTOOLS_TRACE_DISABLED": "true"}


def load_handler(name: str) -> Callable[[dict[str, Any], Any], Any]:
    """`functions/<name>/app.py`'s handler, imported by path (every Lambda module is `app`)."""
    spec = importlib.util.spec_from_file_location(f"lambda_{name}_app",
                                                  ROOT / "functions" / name / "app.py")
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], Any] = module.handler
    return handler


def load_event(name: str) -> Any:
    """A sample event from events/<name>.json."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@dataclass
class LambdaContext:
    """The attributes of a Lambda context that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "1"

    @property
    def invoked_function_arn(self) -> str:
        """The alias ARN the state machine calls."""
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}:live"

    def get_remaining_time_in_millis(self) -> int:
        """Plenty."""
        return 900_000


def lambda_env(source: str, **extra: str) -> dict[str, str]:
    """What the template sets on the functions (fast retry settings for the fakes)."""
    return {**AWS_ENV, "BOTTLESYNC_SOURCE": source, "BOTTLESYNC_DEST": f"s3://{BUCKET}",
            "BOTTLESYNC_TAGS": "arm64_sequoia,x86_64_linux", "BOTTLESYNC_CONCURRENCY": "4",
            "BOTTLESYNC_ATTEMPTS": "3", "BOTTLESYNC_BACKOFF_BASE": "0",
            "BOTTLESYNC_MAX_RETRY_AFTER": "0.05", "BOTTLESYNC_CONNECT_TIMEOUT": "2",
            "BOTTLESYNC_READ_TIMEOUT": "2", **extra}


def create_slack_secret(webhook_url: str) -> str:
    """A Secrets Manager secret holding the webhook as JSON; returns its ARN."""
    client = boto3.client("secretsmanager", region_name=REGION)
    secret = client.create_secret(Name=f"slack-{uuid.uuid4().hex[:8]}",
                                  SecretString=json.dumps({"webhook_url": webhook_url}))
    return str(secret["ARN"])


def create_topic() -> str:
    """An SNS topic for the alert e-mails; returns its ARN."""
    return str(boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"])


def sent_emails(topic_arn: str) -> list[tuple[str | None, str]]:
    """(subject, message) of every notification published to the topic."""
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[topic_arn]
    return [(subject, message) for _id, message, subject, *_ in topic.sent_notifications]


def read_object(key: str) -> bytes | None:
    """An object of the test bucket, or None."""
    client = boto3.client("s3", region_name=REGION)
    try:
        return bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def list_keys(prefix: str = "") -> list[str]:
    """Every key of the test bucket under `prefix`."""
    pages = boto3.client("s3", region_name=REGION).get_paginator("list_objects_v2")
    return [o["Key"] for page in pages.paginate(Bucket=BUCKET, Prefix=prefix)
            for o in page.get("Contents", [])]


def moto_definition(definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A COPY of the shipped definition that moto can run, and the ItemBatcher it took out.

    moto's interpreter rejects ItemBatcher and only fakes ResultWriter: the harness removes both
    from the copy and batches the items itself (`batch_items`), as the service does.
    """
    out = copy.deepcopy(definition)
    batchers = [state.pop("ItemBatcher") for state in _states(out)
                if state.get("Type") == "Map" and "ItemBatcher" in state]
    for state in _states(out):
        state.pop("ResultWriter", None)
    assert len(batchers) <= 1, "the harness models one batched Map"
    return out, (batchers[0] if batchers else {})


def json_path(data: Any, path: str) -> Any:
    """A `$.a.b` reference path resolved against `data` (KeyError when a key is missing)."""
    assert re.fullmatch(r"\$(\.[A-Za-z0-9_]+)*", path), f"unsupported path {path}"
    for key in path.split(".")[1:]:
        data = data[key]
    return data


def batch_items(items: list[Any], state_input: Any, batcher: Mapping[str, Any]) -> list[Any]:
    """ItemBatcher: {"Items", "BatchInput"} batches of at most MaxItemsPerBatch items and
    MaxInputBytesPerBatch bytes of JSON (the batch as the child receives it), in order."""
    most = (json_path(state_input, batcher["MaxItemsPerBatchPath"])
            if "MaxItemsPerBatchPath" in batcher else batcher.get("MaxItemsPerBatch", 10**9))
    max_bytes = batcher.get("MaxInputBytesPerBatch", 256 * 1024)
    shared = {key.removesuffix(".$"): json_path(state_input, value) if key.endswith(".$")
              else value for key, value in batcher.get("BatchInput", {}).items()}
    batches: list[dict[str, Any]] = []
    for item in items:
        last = batches[-1] if batches else None
        if last is not None and len(last["Items"]) < most and len(json.dumps(
                {"Items": [*last["Items"], item], "BatchInput": shared})) <= max_bytes:
            last["Items"].append(item)
            continue
        batch = {"Items": [item], "BatchInput": shared}
        assert len(json.dumps(batch)) <= max_bytes, "one item exceeds MaxInputBytesPerBatch"
        batches.append(batch)
    return batches


def _states(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Every state, nested ones (Map processors, Parallel branches) included."""
    found: list[dict[str, Any]] = []
    for state in definition.get("States", {}).values():
        found.append(state)
        for nested in (state.get("ItemProcessor"), state.get("Iterator"),
                       *state.get("Branches", [])):
            if nested:
                found.extend(_states(nested))
    return found


def all_states(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, state) of every state, nested ones included."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, state in definition.get("States", {}).items():
        found.append((name, state))
        for nested in (state.get("ItemProcessor"), state.get("Iterator"),
                       *state.get("Branches", [])):
            if nested:
                found.extend(all_states(nested))
    return found


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace every ${Name} (as SAM's DefinitionSubstitutions do); unknown names fail loudly."""
    def one(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"\$\{([A-Za-z0-9]+)\}", one, text)


@dataclass
class Execution:
    """A finished execution: status, output or error/cause."""

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None


class StateMachineHarness:
    """Deploys the real ASL into moto and routes Lambda and ECS calls to our code in-process."""

    def __init__(self, env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.env = dict(env)
        self.handlers = {name: load_handler(name) for name in FUNCTIONS}
        self.by_resource = {resource: name for name, resource in FUNCTIONS.items()}
        self.invocations: list[tuple[str, Any]] = []
        self.results: list[tuple[str, Any]] = []  # (function, what it returned) when it returned
        self.map_runs: list[dict[str, int]] = []  # child execution counts of each Map run
        self.batcher: dict[str, Any] = {}
        self.task_runs: list[tuple[dict[str, str], int, str]] = []
        self.batch_argv: list[str] = []
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        harness = self

        def invoke(backend: Any, function_name: str, qualifier: str | None, body: Any,
                   headers: Any, response_headers: dict[str, str]) -> bytes:
            return harness._invoke(function_name, body, response_headers)

        def eval_service_task(task: Any, env: Any, resource_runtime_part: Any,
                              normalised_parameters: dict[str, Any], state_credentials: Any
                              ) -> None:
            env.stack.append(harness._run_task(normalised_parameters))

        def build_sync_resolver(task: Any, env: Any, *args: Any, **kwargs: Any
                                ) -> Callable[[], Any]:
            description = env.stack.pop()
            return lambda: _stopped_task(env, description)

        map_run = distributed_map.DistributedIterationComponent._map_run

        def map_run_batched(component: Any, env: Any, eval_input: Any) -> None:
            items = env.stack.pop()
            env.stack.append(batch_items(items, env.states.get_input(), harness.batcher))
            map_run(component, env, eval_input)
            counter = eval_input.map_run_record.item_counter
            harness.map_runs.append({"total": counter.total.get(),
                                     "succeeded": counter.succeeded.get(),
                                     "failed": counter.failed.get() + counter.timed_out.get()})
            _enforce_tolerance(env, eval_input.map_run_record)

        monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
        monkeypatch.setattr(ecs_service.StateTaskServiceEcs, "_eval_service_task",
                            eval_service_task)
        monkeypatch.setattr(ecs_service.StateTaskServiceEcs, "_build_sync_resolver",
                            build_sync_resolver)
        monkeypatch.setattr(distributed_map.DistributedIterationComponent, "_map_run",
                            map_run_batched)
        # the interpreter's Retry backoff really sleeps: make it instant
        monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda _seconds: None))

    def _invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        """Run the real handler; an exception becomes Lambda's Unhandled error payload."""
        resource = function_name.split(":function:")[-1].split(":")[0]
        name = self.by_resource[resource]
        event = json.loads(body or b"{}")
        self.invocations.append((name, event))
        try:
            result = self.handlers[name](event, LambdaContext(resource))
            self.results.append((name, result))
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        return json.dumps(result).encode()

    def _run_task(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """ecs:runTask.sync: run the container entrypoint with the overrides; the stopped task."""
        override = parameters["Overrides"]["ContainerOverrides"][0]
        env = {**self.env, **{e["Name"]: e["Value"] for e in override.get("Environment", [])}}
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = batch.main(self.batch_argv, env)
            except Exception:  # an uncaught exception kills the container's python: exit 1
                traceback.print_exc()
                code = 1
        self.task_runs.append((env, code, err.getvalue()))
        task_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/mirror/{uuid.uuid4().hex}"
        return {"TaskArn": task_arn, "ClusterArn": parameters["Cluster"],
                "TaskDefinitionArn": parameters["TaskDefinition"], "LastStatus": "STOPPED",
                "StopCode": "EssentialContainerExited",
                "StoppedReason": "Essential container in task exited",
                "Containers": [{"Name": override["Name"], "ExitCode": code,
                                "LastStatus": "STOPPED"}]}

    def deploy(self) -> str:
        """IAM role, the four functions with their `live` alias, and the state machine."""
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="bottlesync-test", AssumeRolePolicyDocument="{}")
        role_arn = role["Role"]["Arn"]
        lam = boto3.client("lambda", region_name=REGION)
        values = {"MirrorBucket": BUCKET,
                  "ClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/mirror",
                  "TaskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/mirror:1",
                  "ContainerName": "mirror", "SubnetIdsJoined": "subnet-0a,subnet-0b",
                  "SecurityGroupId": "sg-0123", "AssignPublicIp": "DISABLED"}
        for resource in FUNCTIONS.values():
            lam.create_function(FunctionName=resource, Runtime="python3.12", Role=role_arn,
                                Handler="app.handler", Code={"ZipFile": _tiny_zip()})
            version = lam.publish_version(FunctionName=resource)["Version"]
            alias = lam.create_alias(FunctionName=resource, Name="live", FunctionVersion=version)
            values[f"{resource}Arn"] = alias["AliasArn"]
        definition, self.batcher = moto_definition(json.loads(ASL.read_text()))
        machine = self.sfn.create_state_machine(
            name="bottlesync-test", roleArn=role_arn,
            definition=substitute(json.dumps(definition), values))
        self.machine_arn = str(machine["stateMachineArn"])
        return self.machine_arn

    def run(self, payload: dict[str, Any], deadline: float = 40.0) -> Execution:
        """Start an execution and wait until it is no longer RUNNING."""
        arn = self.sfn.start_execution(stateMachineArn=self.machine_arn,
                                       name=f"run-{uuid.uuid4().hex[:12]}",
                                       input=json.dumps(payload))["executionArn"]
        stop = time.monotonic() + deadline
        while True:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING" or time.monotonic() > stop:
                break
            time.sleep(0.05)
        output = described.get("output")
        return Execution(described["status"], json.loads(output) if output else None,
                         described.get("error"), described.get("cause"))

    def calls(self, name: str) -> list[Any]:
        """The events one function received, in order."""
        return [event for called, event in self.invocations if called == name]


def _stopped_task(env: Any, description: dict[str, Any]) -> dict[str, Any]:
    """runTask.sync on a STOPPED task: its description, or States.TaskFailed (as AWS does) when
    an essential container exited non-zero, with the description as the Cause."""
    if all(c.get("ExitCode") == 0 for c in description["Containers"]):
        return description
    _fail(env, StatesErrorNameType.StatesTaskFailed, json.dumps(description))


def _fail(env: Any, error: StatesErrorNameType, cause: str) -> NoReturn:
    """Fail the current state with a States.* error, as the service would."""
    name = StatesErrorName(typ=error)
    raise FailureEventException(FailureEvent(
        env=env, error_name=name, event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
            error=name.error_name, cause=cause))))


def _enforce_tolerance(env: Any, record: Any) -> None:
    """Fail a Distributed Map run whose child failures exceed its tolerance, as AWS does (moto
    never does). moto cannot tell an unset threshold from 0, so a run is tolerated when either
    threshold tolerates it; AWS fails it when either is exceeded and both are set."""
    counter = record.item_counter
    failed = counter.failed.get() + counter.timed_out.get()
    total = max(counter.total.get(), 1)
    if (failed == 0 or failed <= record.tolerated_failure_count
            or 100.0 * failed / total <= record.tolerated_failure_percentage):
        return
    _fail(env, StatesErrorNameType.StatesExceedToleratedFailureThreshold,
          f"{failed} of {total} items failed; tolerated: {record.tolerated_failure_count} "
          f"or {record.tolerated_failure_percentage}%")


def _tiny_zip() -> bytes:
    """A deployment package; its content never runs (invokes are routed in-process)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()



def batch_for_fakes(event: dict[str, Any], homebrew: Any, base: str = f"s3://{BUCKET}"
                    ) -> dict[str, Any]:
    """events/mirror_batch.json pointed at FakeHomebrew's bottles (same names/tags) and `base`."""
    out = copy.deepcopy(event)
    for item in out["Items"]:
        sha = homebrew.sha256(item["name"], item["tag"])
        image = item["name"].replace("@", "/").replace("+", "x")
        item.update(sha256=sha, size=homebrew.size(item["name"], item["tag"]),
                    url=f"{homebrew.root_url}/{image}/blobs/sha256:{sha}")
    out["BatchInput"]["base"] = base
    return out
