"""`make bench` at smoke scale: every benchmark runs and its counts add up (no timings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import generate
from bench.run import SMOKE, Row, main, run, table, verdict


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Row]:
    """Every benchmark once at smoke scale, by the name before its parenthesis."""
    out = tmp_path_factory.mktemp("bench")
    return {row.name.split(" (")[0]: row for row in run(SMOKE, out)}


def test_plan_selects_every_bottle_and_plans_only_the_missing_ones(rows: dict[str, Row]) -> None:
    """GIVEN the generated catalogue and a manifest lacking a few formulae WHEN planned
    THEN every bottle is selected, only the missing ones are planned, all sized, none invalid."""
    counts = rows["plan"].counts
    assert counts["selected"] == counts["bottles"] > 0
    assert counts["planned"] == counts["missing"] > 0
    assert counts["unknown_sizes"] == 0
    assert counts["invalid"] == 0


def test_noop_resync_requests_no_bottle_and_no_index(rows: dict[str, Row]) -> None:
    """GIVEN a manifest holding everything WHEN re-synced THEN nothing is fetched or mirrored."""
    counts = rows["no-op re-sync"].counts
    assert counts["present"] == counts["selected"] == counts["bottles"] > 0
    assert counts["mirrored"] == 0
    assert counts["bottle_requests"] == 0
    assert counts["index_requests"] == 0


@pytest.mark.parametrize("name", ["transfer", "small"])
def test_transfers_land_every_bottle_without_leaking_the_token(rows: dict[str, Row],
                                                               name: str) -> None:
    """GIVEN synthetic bottles WHEN mirrored THEN each one lands once, with every byte."""
    counts = rows[name].counts
    bottles, size = SMOKE.transfer if name == "transfer" else SMOKE.small
    assert counts["bottles"] == counts["mirrored"] == counts["files"] == bottles
    assert counts["failed"] == 0
    assert counts["bytes"] == bottles * size
    assert counts["auth_leaks"] == 0


def test_memory_child_mirrors_the_one_bottle(rows: dict[str, Row]) -> None:
    """GIVEN one bottle WHEN the memory child mirrors it THEN it reports it and its bytes."""
    counts = rows["memory"].counts
    assert counts["mirrored"] == 1
    assert counts["bytes"] == counts["size"] == SMOKE.memory_size
    assert rows["memory"].figure.endswith("MB peak RSS")


def test_s3_objects_read_back_with_the_catalogue_digest(rows: dict[str, Row]) -> None:
    """GIVEN a moto S3 server WHEN mirrored into it THEN every object re-hashes to its sha256."""
    counts = rows["S3/moto"].counts
    assert counts["bottles"] == counts["mirrored"] == counts["verified"] == SMOKE.s3[0]
    assert rows["S3/moto"].met is True


def test_cost_rows_price_a_full_sync_and_a_daily_delta(rows: dict[str, Row]) -> None:
    """GIVEN the cost model WHEN run THEN it prices 50k bottles and a 300-bottle, 3 GB day."""
    assert rows["cost: initial full sync"].counts["bottles"] == 50_000
    assert rows["cost: daily delta"].counts == {"bottles": 300, "gb": 3.0}


def test_noop_process_exits_0_and_leaves_the_manifest_alone(rows: dict[str, Row]) -> None:
    """GIVEN a complete manifest WHEN the installed CLI re-syncs THEN every process exits 0 and
    the manifest is not rewritten; the package was timed with its bytecode compiled, as pip
    installs it."""
    counts = rows["no-op process"].counts
    assert counts["codes"] and not any(counts["codes"]) and counts["compiled"] is True
    assert counts["manifest_rewritten"] is False
    assert rows["no-op peak RSS"].figure.endswith("MiB")


def test_latency_bench_mirrors_every_bottle_both_ways(rows: dict[str, Row]) -> None:
    """GIVEN the slow fake WHEN the serial baseline and the CLI mirror THEN both get them all."""
    counts = next(r.counts for name, r in rows.items() if name.startswith("latency"))
    assert counts["bottles"] == counts["serial_bottles"] == counts["mirrored"] > 0
    assert (counts["failed"], counts["code"], counts["auth_leaks"]) == (0, 0, 0)
    assert len(counts["ours_s"]) == len(counts["serial_s"]) >= 1  # every run, for the spread


def test_estimate_projects_both_routes_from_a_mirrored_sample(rows: dict[str, Row]) -> None:
    """GIVEN a reduced-scale sample WHEN estimated THEN it mirrored the sample and projects
    Lambda, Fargate and the idle month."""
    lam = rows["estimate: initial sync on lambda"]
    assert lam.counts["mirrored"] == lam.counts["sample"] == SMOKE.estimate_sample
    assert "estimate: initial sync on ecs" in rows
    assert rows["cost: idle month, every 15 min"].counts == {"runs": 2880}


def test_smoke_scale_judges_no_timing_goal(rows: dict[str, Row]) -> None:
    """At smoke scale only correctness rows are judged: `bench.run --scale smoke` exits 0 when
    nothing is broken."""
    assert all(row.met is None for row in rows.values() if row.timed)
    assert all(row.met is not False for row in rows.values())


def test_table_lists_every_row(rows: dict[str, Row]) -> None:
    """The printed table has a header, a rule and one line per benchmark."""
    lines = table(list(rows.values())).splitlines()
    assert lines[0].startswith("| benchmark")
    assert len(lines) == 2 + len(rows)


def test_main_writes_the_table_and_the_figures(tmp_path: Path) -> None:
    """`python -m bench.run --only cost` exits 0 and keeps results.md and results.json."""
    assert main(["--scale", "smoke", "--only", "cost", "--out", str(tmp_path)]) == 0
    assert "cost: daily delta" in (tmp_path / "results.md").read_text()
    assert len(json.loads((tmp_path / "results.json").read_text())) == 2


def test_main_rejects_an_unknown_benchmark(tmp_path: Path) -> None:
    """A misspelt --only is a usage error, not a silent empty table."""
    with pytest.raises(SystemExit) as exc:
        main(["--only", "plna", "--out", str(tmp_path)])
    assert exc.value.code == 2


def test_generator_is_deterministic_and_realistic() -> None:
    """The same seed gives the same catalogue, with the real catalogue's mix of cases."""
    formulae = generate.generate()
    assert formulae == generate.generate()
    assert len(formulae) == generate.FORMULAE
    assert len({f.name for f in formulae}) == len(formulae)
    share = {"revision": sum(f.revision > 0 for f in formulae) / len(formulae),
             "rebuild": sum(f.rebuild > 0 for f in formulae) / len(formulae),
             "versioned": sum("@" in f.name for f in formulae) / len(formulae),
             "all_only": sum(f.tags == ("all",) for f in formulae) / len(formulae)}
    assert 0.15 < share["revision"] < 0.3
    assert 0.1 < share["rebuild"] < 0.2
    assert 0.02 < share["versioned"] < 0.06
    assert 0.05 < share["all_only"] < 0.11
    assert 40_000 < generate.bottle_count(formulae) < generate.MANIFEST_ENTRIES


def test_manifest_covers_all_but_the_missing_formulae() -> None:
    """The manifest lists every current bottle except the missing formulae', padded to size."""
    formulae = generate.generate(200)
    missing = generate.missing_formulae(formulae, 5)
    doc = generate.manifest_doc(formulae, missing, 1_500)
    assert len(doc["bottles"]) == 1_500
    skipped = {file for f in missing for file, _sha, _size in f.files()}
    current = {file for f in formulae for file, _sha, _size in f.files()}
    assert skipped and not skipped & set(doc["bottles"])
    assert current - skipped <= set(doc["bottles"])


def test_a_missed_goal_fails_the_run_a_missed_target_does_not() -> None:
    """GIVEN a row whose goal is missed THEN exit 1; GIVEN only an estimate missing the
    operators' target (a reported target, gate off) THEN exit 0, the table still saying so."""
    def row(met: bool, gate: bool) -> Row:
        return Row("r", "1 s", "", None, "< 30 min", met, gate=gate)

    assert verdict([row(True, True), row(False, False)]) == 0
    assert verdict([row(False, True), row(True, False)]) == 1
    assert "no (target)" in table([row(False, False)]) and "NO" in table([row(False, True)])
