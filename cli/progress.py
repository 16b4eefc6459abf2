"""Progress through the phases of a long command (ingest, reindex): a bar with rate and ETA on a
terminal, a line every few seconds otherwise (CI logs, pipes), so no phase looks frozen."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from rich.markup import escape

from elephant.cli.output import err_console

# Phase names as users read them.
PHASES = {"files": "reading files", "index": "indexing (embedding, vectors, lexical)",
          "embed": "embedding every record", "lexical": "writing lexical documents"}
LINE_EVERY_S = 5.0

Report = Callable[[str, int, int, str], None]


def rate_and_eta(done: int, total: int, seconds: float) -> tuple[float, float | None]:
    """Items per second so far and the seconds left at that rate (None when unknown)."""
    rate = done / seconds if seconds > 0 else 0.0
    if rate <= 0 or total <= 0:
        return rate, None
    return rate, max(0.0, (total - done) / rate)


def progress_line(label: str, phase: str, done: int, total: int, seconds: float) -> str:
    """``ingest: indexing ... 1,200/5,000 (240/s, ETA 16 s)``."""
    rate, eta = rate_and_eta(done, total, seconds)
    left = f", ETA {eta:.0f} s" if eta is not None and done < total else ""
    return f"{label}: {PHASES.get(phase, phase)} {done:,}/{total:,} ({rate:,.0f}/s{left})"


@contextmanager
def phase_progress(label: str, *, enabled: bool = True, stream: IO[str] | None = None,
                   is_tty: bool | None = None) -> Iterator[Report]:
    """A ``report(phase, done, total, detail)`` callback for the command's duration."""
    if not enabled:
        yield lambda _phase, _done, _total, _detail: None
        return
    tty = sys.stderr.isatty() if is_tty is None else is_tty
    if tty:
        with _bar(label) as report:
            yield report
        return
    out = stream or sys.stderr
    # A line once LINE_EVERY_S has passed since the last one (a short run prints none).
    current = [""]
    times = {"started": time.monotonic(), "last": time.monotonic()}

    def line(phase: str, done: int, total: int, _detail: str) -> None:
        now = time.monotonic()
        if phase != current[0]:
            current[0] = phase
            times["started"] = now
        if now - times["last"] >= LINE_EVERY_S:
            times["last"] = now
            print(progress_line(label, phase, done, total, now - times["started"]), file=out, flush=True)

    yield line


@contextmanager
def _bar(label: str) -> Iterator[Report]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(f"[bold]{escape(label)}[/bold] {{task.fields[phase]}}"), BarColumn(),
               MofNCompleteColumn(), TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
               TextColumn("{task.description}", style="dim"))
    with Progress(*columns, console=err_console, transient=True) as bar:
        tasks: dict[str, tuple[TaskID, float]] = {}

        def report(phase: str, done: int, total: int, detail: str) -> None:
            if phase not in tasks:
                for other, (task_id, _t) in tasks.items():  # the earlier phase is over
                    if other != phase:
                        bar.update(task_id, visible=False)
                tasks[phase] = (bar.add_task("", total=total or None, phase=PHASES.get(phase, phase), rate=""),
                                time.monotonic())
            task_id, started = tasks[phase]
            rate, _eta = rate_and_eta(done, total, time.monotonic() - started)
            bar.update(task_id, completed=done, total=total or None, description=escape(detail[-50:]),
                       rate=f"{rate:,.0f}/s")

        yield report
