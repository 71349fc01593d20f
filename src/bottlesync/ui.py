"""What a person sees: one-screen summaries (the terminal's progress bar: progress_bar.py)."""

from __future__ import annotations

from typing import IO, Any

from bottlesync.commit import RunReport
from bottlesync.plan import Plan
from bottlesync.units import human_bytes
from bottlesync.verify import VerifyReport

MAX_LISTED = 15


def print_plan(plan: Plan, out: IO[str]) -> None:
    """The dry run's plan: counts, route and the first bottles to fetch."""
    out.write(f"plan {plan.run_id}: {plan.source} -> {plan.base} ({plan.layout})\n")
    out.write(f"  selected {plan.selected}, present {plan.present}, to fetch {len(plan.items)} "
              f"({human_bytes(plan.planned_bytes)}), route {plan.route}\n")
    for item in plan.items[:MAX_LISTED]:
        size = human_bytes(item.size) if item.size is not None else "size unknown"
        out.write(f"  + {item.key} ({size})\n")
    if len(plan.items) > MAX_LISTED:
        out.write(f"  ... and {len(plan.items) - MAX_LISTED} more\n")
    _print_failures(plan.invalid, out)


def print_report(report: RunReport, base: str, layout: str, seconds: float, out: IO[str]) -> None:
    """The sync summary, one screen at most."""
    rate = human_bytes(report.bytes / seconds) + "/s" if seconds > 0 else "-"
    out.write(f"run {report.run_id} -> {base} ({layout})\n")
    out.write(f"  selected {report.selected}  present {report.present}  mirrored {report.mirrored}"
              f"  failed {report.failed}  route {report.route}\n")
    out.write(f"  planned {human_bytes(report.planned_bytes)}, fetched {human_bytes(report.bytes)}"
              f" in {seconds:.1f} s ({rate})\n")
    _print_failures(report.failures, out)
    if layout == "bottle-domain":
        out.write(f"  serve it: HOMEBREW_BOTTLE_DOMAIN=<url of {base}>/bottles\n")
    elif layout == "artifact-domain":
        out.write(f"  serve it: HOMEBREW_ARTIFACT_DOMAIN=<url of {base}>\n")


def print_verify(report: VerifyReport, base: str, out: IO[str]) -> None:
    """The verify summary."""
    out.write(f"verify {base}: checked {report.checked}, missing {len(report.missing)}, "
              f"corrupt {len(report.corrupt)}, repaired {len(report.repaired)}\n")
    for file in (report.missing + report.corrupt)[:MAX_LISTED]:
        state = "repaired" if file in report.repaired else (
            "missing" if file in report.missing else "corrupt")
        out.write(f"  {state}: {file}\n")
    _print_failures(report.unrepaired, out)


def _print_failures(failures: list[Any], out: IO[str]) -> None:
    """The first failures, each naming its bottle, error class and cause."""
    for failure in failures[:MAX_LISTED]:
        out.write(f"  ! {failure.bottle}: {failure.error}: {failure.message}\n")
    if len(failures) > MAX_LISTED:
        out.write(f"  ! ... and {len(failures) - MAX_LISTED} more (see the run record)\n")
