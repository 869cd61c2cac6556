"""Progress of long steps, and notes for the user.

On a terminal (main thread): a live bar (rich, which Prefect already brings) with counts and ETA.
Otherwise (CI logs, served flows, pipes, task threads): one plain line every ``INTERVAL_S`` seconds and
one at the end. Flows route the
lines to Prefect's run logger with ``set_sink``; everything else writes to standard error, so standard
output keeps only results (stage verbs print their run_id last).
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

INTERVAL_S = 5.0
_local = threading.local()  # the sink of this thread (Prefect tasks run in worker threads)


def set_sink(sink: Callable[[str], None] | None) -> None:
    """Send this thread's progress lines and notes to ``sink`` (None: standard error)."""
    _local.sink = sink


def _sink() -> Callable[[str], None] | None:
    return getattr(_local, "sink", None)


def note(message: str) -> None:
    """A one-line message for the user (what a stage decided, e.g. to recompute)."""
    _write(_sink(), message)


def _write(sink: Callable[[str], None] | None, line: str) -> None:
    if sink is not None:
        sink(line)
    else:  # not print(): inside a Prefect flow with log_prints, print goes to the (quieted) run log
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class Progress:
    """``with Progress("ablate", total=102, unit="curves") as p: ... p.advance()``."""

    def __init__(self, what: str, total: int, unit: str = "steps"):
        self.what, self.total, self.unit = what, max(int(total), 0), unit
        self.done = 0
        self.started = self.last_line = time.monotonic()
        self._bar = None
        self._lock = threading.Lock()
        self._sink = _sink()  # the caller's: advance() may run on worker threads

    def __enter__(self) -> Progress:
        if self._sink is None and sys.stderr.isatty() and threading.current_thread() is threading.main_thread():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
                            TimeRemainingColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more done (safe from worker threads)."""
        with self._lock:
            self.done += n
            due = self._bar is None and time.monotonic() - self.last_line >= INTERVAL_S
            if due:
                self.last_line = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
        elif due:
            self._say(self.line())

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        share = self.done / self.total if self.total else 1.0
        eta = f", ETA {elapsed / share - elapsed:.0f} s" if 0 < share < 1 else ""
        return f"{self.what}: {self.done}/{self.total} {self.unit} ({share:.0%}){eta}, {elapsed:.0f} s"

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
        if exc[0] is None and self.total:
            self._say(f"{self.what}: {self.done}/{self.total} {self.unit} in {time.monotonic() - self.started:.1f} s")

    def _say(self, line: str) -> None:
        _write(self._sink, line)
