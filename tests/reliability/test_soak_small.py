"""GIVEN 300 bottles and a 5 % random fault rate WHEN synced THEN at most two re-runs, nothing lost.

The bounded CI version of `make soak` (bench/soak.py), same code, same fault mix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.soak import FAULT_MIX, MAX_RERUNS, main, soak


@pytest.mark.parametrize("seed", [2])
def test_small_soak_converges_and_loses_nothing(tmp_path: Path, seed: int) -> None:
    """GIVEN faults of every kind on 5 % of 300 bottles THEN every bottle lands, verified."""
    figures = soak(300, 0.05, seed, tmp_path / "mirror")
    assert figures.faults_planted >= 10
    assert sum(figures.faults_injected.values()) >= figures.faults_planted
    assert figures.runs <= 1 + MAX_RERUNS
    assert figures.per_run[0]["failed"] > 0  # the faults did bite
    assert figures.per_run[-1]["failed"] == 0
    assert figures.bottles_landed == 300
    assert figures.bytes_verified > 300 * 256
    assert figures.lost == 0
    assert sum(r["mirrored"] for r in figures.per_run) == 300


def test_every_fault_kind_of_the_mix_is_served(tmp_path: Path) -> None:
    """GIVEN a 100 % fault rate THEN every kind of the mix is exercised and nothing is lost."""
    figures = soak(2 * len(FAULT_MIX) * 4, 1.0, 7, tmp_path / "mirror")
    assert set(figures.faults_injected) == {kind for kind, _params, _on in FAULT_MIX}
    assert figures.lost == 0


def test_soak_command_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN `python -m bench.soak --json` THEN it prints the figures and exits 0."""
    assert main(["--bottles", "40", "--seed", "5", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["lost"] == 0 and figures["bottles_landed"] == 40
    assert {"runs", "faults_injected", "bytes_verified", "reruns_needed"} <= set(figures)
