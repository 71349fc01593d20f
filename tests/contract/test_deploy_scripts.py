"""The deploy job's shell steps (infra/*.sh) against fake `aws` and `skopeo` commands on PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.contract.conftest import ROOT

REPO = "123456789012.dkr.ecr.us-west-2.amazonaws.com/homebrew-bottles-sync-dev"
DIGEST = "sha256:" + "c" * 64


def _fake(bin_dir: Path, name: str, script: str) -> None:
    """An executable `name` on the fake PATH that logs its argv and runs `script`."""
    path = bin_dir / name
    path.write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> "$FAKE_LOG"\n{script}\n')
    path.chmod(0o755)


def _run(tmp_path: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run infra/<script> with the fakes first on PATH."""
    path = f"{tmp_path}:{os.environ['PATH']}"
    return subprocess.run([str(ROOT / "infra" / script), *args], capture_output=True, text=True,
                          check=False, env={**os.environ, "PATH": path,
                                            "FAKE_LOG": str(tmp_path / "log"), **env})


def test_image_push_reuses_an_existing_tag(tmp_path: Path) -> None:
    """GIVEN the commit's tag already in ECR (a rollback) THEN its digest, nothing pushed."""
    _fake(tmp_path, "aws", f'[[ "$1 $2" == "ecr describe-images" ]] && echo {DIGEST}')
    _fake(tmp_path, "skopeo", "exit 99")
    done = _run(tmp_path, "image-push.sh", REPO, "abc123", "build/image.oci.tar")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{REPO}@{DIGEST}\n"
    assert "skopeo" not in (tmp_path / "log").read_text()


def test_image_push_pushes_a_new_tag_and_prints_its_digest(tmp_path: Path) -> None:
    """GIVEN a new commit THEN pushed as <repo>:<sha>, printed as <repo>@<digest>."""
    _fake(tmp_path, "aws", 'case "$2" in describe-images) echo None;; '
                           'get-login-password) echo token;; esac')
    _fake(tmp_path, "skopeo", f'if [[ "$1" == login ]]; then cat > "$FAKE_LOG.password"; fi; '
                              f'if [[ "$1" == copy ]]; then echo -n {DIGEST} > "$4"; fi')
    done = _run(tmp_path, "image-push.sh", REPO, "abc123", "build/image.oci.tar")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{REPO}@{DIGEST}\n"
    log = (tmp_path / "log").read_text()
    assert f"docker://{REPO}:abc123" in log and "--region us-west-2" in log
    assert (tmp_path / "log.password").read_text() == "token\n"  # via stdin, never argv


@pytest.mark.parametrize(("critical", "code"), [("None", 0), ("0", 0), ("2", 1)])
def test_image_scan_stops_on_a_critical_finding(tmp_path: Path, critical: str, code: int) -> None:
    """GIVEN ECR's scan counts THEN a critical finding fails the deploy."""
    _fake(tmp_path, "aws", f'[[ "$*" == *findingSeverityCounts.CRITICAL* ]] && echo {critical}; '
                           "true")
    done = _run(tmp_path, "image-scan.sh", f"{REPO}@{DIGEST}")
    assert done.returncode == code, done.stderr
    assert f"imageDigest={DIGEST}" in (tmp_path / "log").read_text()


@pytest.mark.parametrize(("statuses", "code"), [("RUNNING RUNNING SUCCEEDED", 0),
                                                ("RUNNING FAILED", 1), ("TIMED_OUT", 1)])
def test_smoke_waits_for_succeeded(tmp_path: Path, statuses: str, code: int) -> None:
    """GIVEN the execution's statuses THEN only SUCCEEDED passes; the input is a dry run."""
    (tmp_path / "statuses").write_text("\n".join(statuses.split()) + "\n")
    _fake(tmp_path, "aws", 'case "$2" in '
                           "describe-stacks) echo arn:sm;; start-execution) echo arn:exec;; "
                           f'describe-execution) head -1 {tmp_path}/statuses; '
                           f'sed -i 1d {tmp_path}/statuses;; esac')
    done = _run(tmp_path, "smoke.sh", "homebrew-bottles-sync-dev", "us-west-2", SMOKE_POLL="0")
    assert done.returncode == code, done.stderr
    assert '--input {"dry_run": true}' in (tmp_path / "log").read_text()
