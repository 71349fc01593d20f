"""What a person reads: sizes, the plan, the sync summary and the verify summary."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from bottlesync.commit import RunReport
from bottlesync.errors import Failure
from bottlesync.plan import Plan
from bottlesync.ui import MAX_LISTED, human_bytes, print_plan, print_report, print_verify
from bottlesync.verify import VerifyReport
from tests.unit.conftest import make_bottle, make_item

RUN_ID = "20261128T030000Z-0a1b2c3d"


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 << 20, "5.0 MiB"),
    (1 << 30, "1.0 GiB"), (1 << 40, "1.0 TiB"), (3 << 50, "3072.0 TiB"),
])
def test_human_bytes(n: int, text: str) -> None:
    """GIVEN a byte count THEN binary units with one decimal (bytes without)."""
    assert human_bytes(n) == text


def failures(count: int) -> list[Failure]:
    """`count` distinct failures."""
    return [Failure(f"b{i}.tar.gz", "UpstreamError", f"b{i}.tar.gz: HTTP 404")
            for i in range(count)]


def report(failed: int = 0) -> RunReport:
    """A run report with `failed` failures."""
    return RunReport(run_id=RUN_ID, selected=13, present=3, mirrored=10, planned_bytes=3 << 20,
                     bytes=2 << 20, route="lambda", failures=failures(failed))


def test_print_report_summary_and_serve_hint() -> None:
    """GIVEN a sync report THEN counts, sizes, rate, failures and how to serve the mirror."""
    out = io.StringIO()
    print_report(report(2), "/srv/mirror", "bottle-domain", 2.0, out)
    text = out.getvalue()
    assert f"run {RUN_ID} -> /srv/mirror (bottle-domain)" in text
    assert "selected 13  present 3  mirrored 10  failed 2  route lambda" in text
    assert "planned 3.0 MiB, fetched 2.0 MiB in 2.0 s (1.0 MiB/s)" in text
    assert "! b1.tar.gz: UpstreamError: b1.tar.gz: HTTP 404" in text
    assert "HOMEBREW_BOTTLE_DOMAIN=<url of /srv/mirror>/bottles" in text


@pytest.mark.parametrize(("layout", "hint"), [
    ("artifact-domain", "HOMEBREW_ARTIFACT_DOMAIN=<url of s3://b>"),
    ("dated", "merge the day folders into one folder and set "
              "HOMEBREW_BOTTLE_DOMAIN=<url of that folder>")])
def test_print_report_hint_per_layout(layout: str, hint: str) -> None:
    """GIVEN other layouts THEN the matching hint (dated: how to serve the merged days); zero
    time shows '-'."""
    out = io.StringIO()
    print_report(report(), "s3://b", layout, 0.0, out)
    hints = [line.strip() for line in out.getvalue().splitlines() if "serve it" in line]
    assert hints == [f"serve it: {hint}"]
    assert "(-)" in out.getvalue()


def test_dated_summary_names_this_runs_day_folder() -> None:
    """GIVEN a dated run THEN the summary names the day folder that holds this run's delta."""
    out = io.StringIO()
    print_report(report(), "/srv/m", "dated", 1.0, out)
    day = f"{RUN_ID[0:4]}-{RUN_ID[4:6]}-{RUN_ID[6:8]}"
    assert f"this run's bottles: /srv/m/{day}/ (the delta to carry across)" in out.getvalue()


def test_seeded_and_notes_are_shown_apart() -> None:
    """GIVEN seeded bottles and a note THEN `seeded N` beside present and the note on its line."""
    out = io.StringIO()
    seeded = replace(report(), seeded=4, notes=["jq has no bottle for arm64_linux"])
    print_report(seeded, "/srv/m", "bottle-domain", 1.0, out)
    assert "present 3  seeded 4  mirrored 10" in out.getvalue()
    assert "  note: jq has no bottle for arm64_linux\n" in out.getvalue()


def test_long_failure_lists_are_cut() -> None:
    """GIVEN more failures than fit a screen THEN the first MAX_LISTED and a count of the rest."""
    out = io.StringIO()
    print_report(report(MAX_LISTED + 5), "m", "dated", 1.0, out)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("  !")]
    assert len(lines) == MAX_LISTED + 1
    assert lines[-1] == "  ! ... and 5 more (see the run record)"


def test_print_plan_lists_items_and_sizes() -> None:
    """GIVEN a plan THEN header, counts, each key with its size (or unknown), invalid entries."""
    items = [make_item(make_bottle(name=f"f{i}"), size=2048 if i else None)
             for i in range(MAX_LISTED + 2)]
    plan = Plan(run_id=RUN_ID, created_at="t", source="src", base="/m", layout="bottle-domain",
                selected=20, present=3, items=items, invalid=failures(1), threshold=1 << 30)
    out = io.StringIO()
    print_plan(plan, out)
    text = out.getvalue()
    assert text.startswith(f"plan {RUN_ID}: src -> /m (bottle-domain)\n")
    assert f"selected 20, present 3, to fetch {MAX_LISTED + 2} (32.0 KiB), route lambda" in text
    assert f"  + {items[0].key} (size unknown)" in text
    assert f"  + {items[1].key} (2.0 KiB)" in text
    assert items[-1].key not in text
    assert "  ... and 2 more" in text
    assert "! b0.tar.gz: UpstreamError" in text


def test_print_verify_states() -> None:
    """GIVEN missing, corrupt and repaired bottles THEN each is listed with its state."""
    verify = VerifyReport(checked=9, missing=["a", "b"], corrupt=["c"], repaired=["b"],
                          unrepaired=[Failure("a", "NotInCatalogue", "a: gone")])
    out = io.StringIO()
    print_verify(verify, "/m", out)
    assert out.getvalue().splitlines() == [
        "verify /m: checked 9, missing 2, corrupt 1, repaired 1",
        "  missing: a", "  repaired: b", "  corrupt: c", "  ! a: NotInCatalogue: a: gone"]
