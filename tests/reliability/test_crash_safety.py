"""GIVEN a sync killed with SIGKILL at any point WHEN it is re-run THEN the mirror is whole.

A real `bottlesync sync` subprocess is killed (seeded random delays) during a download, during a
bottle's write, between landing and the manifest commit, and during the manifest write, plus at
arbitrary moments. After each kill: nothing unverified or temporary is visible, the manifest matches
storage; after the re-run: everything is mirrored, `bottlesync verify` passes, and the temp files
the killed writer left under `.bottlesync/tmp` are gone.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from bottlesync.cli import main
from bottlesync.errors import DigestMismatch, TransientUpstreamError
from bottlesync.storage import PART_SIZE, LocalStorage, S3Storage
from bottlesync.upstream import Upstream
from tests.conftest import fast_settings, fast_sync
from tests.fakes.homebrew import FakeFormula, FakeHomebrew
from tests.reliability.conftest import (
    assert_consistent,
    assert_converged,
    catalogue_shas,
    many_formulae,
)
from tests.reliability.crash_child import HOLD, MARK

ROOT = Path(__file__).resolve().parents[2]
BOTTLESYNC = Path(sys.executable).with_name("bottlesync")
PHASES = ("download", "write", "landed", "manifest")
ROUNDS = 4  # per phase, plus ROUNDS untargeted kills: 20 kills in all
SEED = 20261128


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeHomebrew]:
    """Sixteen 200 KB bottles."""
    with FakeHomebrew(many_formulae(8, payload_size=200_000)) as fake:
        yield fake


def _config(homebrew: FakeHomebrew, dest: Path) -> Path:
    path = dest.with_suffix(".yaml")
    sync = fast_sync(homebrew.source_url, str(dest), concurrency=3)
    path.write_text(yaml.safe_dump({"sync": sync}))
    return path


def _spawn(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _kill_at_phase(phase: str, config: Path, rng: random.Random) -> None:
    """Run the announcing child and kill -9 it a random moment into `phase`."""
    child = _spawn([sys.executable, "-m", "tests.reliability.crash_child", phase,
                    "sync", "--config", str(config), "--json"])
    assert child.stderr is not None
    try:
        for line in child.stderr:
            if line.startswith(MARK):
                assert line.split()[1] == phase
                break
        else:
            pytest.fail(f"the sync ended (exit {child.wait()}) before reaching {phase}")
        time.sleep(rng.uniform(0, HOLD / 2))
    finally:
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL


def _kill_anywhere(config: Path, rng: random.Random) -> None:
    """Run the real `bottlesync` and kill -9 it after a random delay."""
    child = _spawn([str(BOTTLESYNC), "sync", "--config", str(config), "--json"])
    time.sleep(rng.uniform(0.2, 1.5))
    child.send_signal(signal.SIGKILL)
    child.wait(10)


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main(list(argv), env={})
    return code, out.getvalue()


def _temp_files(dest: Path) -> list[Path]:
    return list((dest / ".bottlesync" / "tmp").glob("*.part"))


@pytest.mark.slow
def test_sigkill_at_any_point_then_rerun_converges(upstream: FakeHomebrew, tmp_path: Path) -> None:
    """GIVEN 20 kill -9s at seeded random points THEN each re-run converges and verify passes."""
    rng = random.Random(SEED)
    plan = [phase for phase in PHASES for _ in range(ROUNDS)] + ["anywhere"] * ROUNDS
    rng.shuffle(plan)
    upstream.fault("slow", "/ghcr1/blobs/", -1, delay=0.03)  # widen the download window
    seen_temp = 0
    for round_, phase in enumerate(plan):
        dest = tmp_path / f"m{round_}"
        config = _config(upstream, dest)
        if phase == "anywhere":
            _kill_anywhere(config, rng)
        else:
            _kill_at_phase(phase, config, rng)
        assert_consistent(dest, catalogue_shas(upstream))  # killed: still nothing wrong visible
        if phase in ("write", "manifest"):
            assert _temp_files(dest), f"round {round_}: the kill did not land inside {phase}"
        seen_temp += bool(_temp_files(dest))
        code, out = _cli("sync", "--config", str(config), "--json")
        assert code == 0, f"round {round_} ({phase}): {out}"
        if phase == "landed":
            assert json.loads(out)["bytes"] == 0  # everything landed before the kill is adopted
        assert_converged(dest, upstream)
        assert _cli("verify", "--config", str(config), "--json")[0] == 0
        assert _temp_files(dest) == [], f"round {round_}: stale temp files were not cleaned"
    assert seen_temp >= 2 * ROUNDS


def test_stale_temp_files_are_swept_only_when_no_writer_is_alive(tmp_path: Path) -> None:
    """GIVEN temp files of a dead writer THEN the next writer deletes them, unless one is alive."""
    tmp = tmp_path / ".bottlesync" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "dead.part").write_bytes(b"left by kill -9")
    alive = LocalStorage(tmp_path)
    alive.put_bytes("a.json", b"{}")  # alone: sweeps
    assert not (tmp / "dead.part").exists()
    (tmp / "inflight.part").write_bytes(b"another live writer's")
    other = LocalStorage(tmp_path)
    other.put_bytes("b.json", b"{}")  # `alive` still holds its writer's lock: no sweep
    assert (tmp / "inflight.part").exists()
    del alive, other
    LocalStorage(tmp_path).put_bytes("c.json", b"{}")
    assert not (tmp / "inflight.part").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bottlesync", "a.json", "b.json",
                                                         "c.json"]


@pytest.mark.parametrize("fault", ["wrong_bytes", "truncate"])
def test_s3_multipart_upload_is_aborted_on_failure(fault: str) -> None:
    """GIVEN a bottle larger than a part that fails to verify THEN no multipart upload is left."""
    formula = FakeFormula("big", "1.0", tags=("arm64_sequoia",), synthetic_size=PART_SIZE + 4096)
    with FakeHomebrew([formula]) as homebrew, mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="mirror")
        storage = S3Storage("mirror", "base", client=client)
        homebrew.fault(fault, "/ghcr1/blobs/", -1)
        settings = fast_settings(homebrew.source_url, "s3://mirror/base")
        sha = homebrew.sha256("big", "arm64_sequoia")
        url = f"{homebrew.root_url}/big/blobs/sha256:{sha}"
        expected = DigestMismatch if fault == "wrong_bytes" else TransientUpstreamError
        with Upstream(settings) as upstream, pytest.raises(expected):
            upstream.with_retries(lambda: _put(upstream, storage, url, sha), "big")
        assert client.list_multipart_uploads(Bucket="mirror").get("Uploads", []) == []
        assert "Contents" not in client.list_objects_v2(Bucket="mirror")
        homebrew.clear_faults()
        with Upstream(settings) as upstream:
            size = upstream.with_retries(lambda: _put(upstream, storage, url, sha), "big")
        assert size == PART_SIZE + 4096
        assert storage.stored_sha256("bottles/big") == sha


def _put(upstream: Upstream, storage: S3Storage, url: str, sha: str) -> int:
    with upstream.open(url, "big", auth=True) as response:
        return storage.put_verified("bottles/big", upstream.chunks(response, "big"), sha,
                                    size_hint=PART_SIZE + 4096)
