"""What a person sees: one-screen summaries (the terminal's progress bar: progress_bar.py)."""

from __future__ import annotations

from typing import IO, Any

from bottlesync.commit import RunReport
from bottlesync.plan import Plan
from bottlesync.terminal import inert
from bottlesync.units import human_bytes
from bottlesync.verify import VerifyReport

MAX_LISTED = 15


def print_plan(plan: Plan, out: IO[str]) -> None:
    """The dry run's plan: counts, route and the first bottles to fetch."""
    out.write(f"plan {plan.run_id}: {plan.source} -> {plan.base} ({plan.layout})\n")
    seeded = f", seeded {plan.seeded}" if plan.seeded else ""
    copies = sum(1 for item in plan.items if item.copy_from)
    copied = f", {copies} of them copied from another layout's keys" if copies else ""
    out.write(f"  selected {plan.selected}, present {plan.present}{seeded}, to fetch "
              f"{len(plan.items)} ({human_bytes(plan.planned_bytes)}){copied}, "
              f"route {plan.route}\n")
    for item in plan.items[:MAX_LISTED]:
        size = human_bytes(item.size) if item.size is not None else "size unknown"
        out.write(f"  + {item.key} ({size})\n")
    if len(plan.items) > MAX_LISTED:
        out.write(f"  ... and {len(plan.items) - MAX_LISTED} more\n")
    _print_notes(plan.notes, out)
    _print_failures(plan.invalid, out)


def print_report(report: RunReport, base: str, layout: str, seconds: float, out: IO[str]) -> None:
    """The sync summary, one screen at most."""
    rate = human_bytes(report.bytes / seconds) + "/s" if seconds > 0 else "-"
    out.write(f"run {report.run_id} -> {base} ({layout})\n")
    seeded = f"  seeded {report.seeded}" if report.seeded else ""
    out.write(f"  selected {report.selected}  present {report.present}{seeded}  mirrored "
              f"{report.mirrored}  failed {report.failed}  route {report.route}\n")
    out.write(f"  planned {human_bytes(report.planned_bytes)}, fetched {human_bytes(report.bytes)}"
              f" in {seconds:.1f} s ({rate})\n")
    _print_notes(report.notes, out)
    _print_failures(report.failures, out)
    if layout == "bottle-domain":
        out.write(f"  serve it: HOMEBREW_BOTTLE_DOMAIN=<url of {base}>/bottles\n")
    elif layout == "artifact-domain":
        out.write(f"  serve it: HOMEBREW_ARTIFACT_DOMAIN=<url of {base}>\n")
    elif layout == "dated":
        rid = report.run_id
        out.write(f"  this run's bottles: {base}/{rid[0:4]}-{rid[4:6]}-{rid[6:8]}/ (the delta "
                  f"to carry across)\n  serve it: merge the day folders into one folder and "
                  f"set HOMEBREW_BOTTLE_DOMAIN=<url of that folder>\n")


def print_verify(report: VerifyReport, base: str, out: IO[str]) -> None:
    """The verify summary."""
    out.write(f"verify {base}: checked {report.checked}, missing {len(report.missing)}, "
              f"corrupt {len(report.corrupt)}, repaired {len(report.repaired)}\n")
    for file in (report.missing + report.corrupt)[:MAX_LISTED]:
        state = "repaired" if file in report.repaired else (
            "missing" if file in report.missing else "corrupt")
        out.write(f"  {state}: {inert(file)}\n")
    _print_failures(report.unrepaired, out)


def _print_notes(notes: list[str], out: IO[str]) -> None:
    """What the user should know that is not a failure (e.g. a formula lacking a tag)."""
    for note in notes[:MAX_LISTED]:
        out.write(f"  note: {note}\n")


def _print_failures(failures: list[Any], out: IO[str]) -> None:
    """The first failures, each naming its bottle, error class and cause."""
    for failure in failures[:MAX_LISTED]:
        out.write(f"  ! {inert(failure.bottle)}: {failure.error}: {inert(failure.message)}\n")
    if len(failures) > MAX_LISTED:
        out.write(f"  ! ... and {len(failures) - MAX_LISTED} more (see the run record)\n")
