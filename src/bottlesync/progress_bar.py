"""The progress bar a person sees on a terminal (rich is imported only when there is one)."""

from __future__ import annotations

import threading

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from bottlesync.mirror import BottleResult
from bottlesync.plan import Plan
from bottlesync.terminal import inert


class _Only(ProgressColumn):
    """A column shown only on the task counting `unit` (no "bytes/s" on the bottles bar)."""

    def __init__(self, column: ProgressColumn, unit: str) -> None:
        super().__init__()
        self.column = column
        self.unit = unit

    def render(self, task: Task) -> RenderableType:
        return self.column.render(task) if task.fields.get("unit") == self.unit else Text("")


class ProgressBar:
    """Bottles and bytes bars; thread-safe because the workers report concurrently."""

    def __init__(self, console: Console) -> None:
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            _Only(MofNCompleteColumn(), "bottles"), _Only(DownloadColumn(), "bytes"),
            _Only(TransferSpeedColumn(), "bytes"), TimeRemainingColumn(), console=console,
            transient=False)
        self._bottles: TaskID | None = None
        self._bytes: TaskID | None = None

    def start(self, plan: Plan) -> None:
        """Show the bars sized from the plan."""
        self._progress.start()
        self._bottles = self._progress.add_task("bottles", total=len(plan.items), unit="bottles")
        self._bytes = self._progress.add_task("bytes", total=plan.planned_bytes or None,
                                              unit="bytes")

    def advance(self, nbytes: int) -> None:
        """Bytes arrived."""
        if self._bytes is not None:
            with self._lock:
                self._progress.advance(self._bytes, nbytes)

    def done(self, result: BottleResult) -> None:
        """One bottle finished."""
        if self._bottles is not None:
            with self._lock:
                self._progress.advance(self._bottles, 1)
                if not result.ok:
                    message = escape(inert(result.message))  # neither markup nor escapes
                    self._progress.console.print(f"[red]failed[/red] {message}")

    def stop(self) -> None:
        """Leave the final bars on screen."""
        self._progress.stop()
