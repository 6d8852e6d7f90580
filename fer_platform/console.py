"""What ``fer-platform demo`` shows a person: one live bar per running partition, or plain lines off a terminal.

The bars are fed by the ``fer_platform.progress`` events that every long loop
emits, so the console never parses Dagster's event stream. That stream stays in
the run storage and the UI; ``QUIET_RUN_CONFIG`` keeps only its warnings and
errors on the console (``--verbose`` drops it and shows everything).
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

from fer_platform.progress import PROGRESS_LOGGER

QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
PLAIN_EVERY_S = 15.0


class ProgressDisplay(logging.Handler):
    """Live bars on a terminal, or plain throttled lines (and every closing line) on a pipe."""

    def __init__(self, live: bool):
        super().__init__(logging.DEBUG)
        columns = (
            TextColumn("{task.description:>14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}  ETA {task.fields[eta]}"),
        )
        # Bound to the terminal now: Dagster redirects standard output while a step runs (compute logs).
        self.bars = Progress(*columns, console=Console(file=sys.stdout, force_terminal=True)) if live else None
        self.tasks: dict[str, int] = {}
        self.printed: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "fer_progress", None)
        if event is None:
            return
        if self.bars is None:
            now = time.monotonic()
            if event.finished or now - self.printed.setdefault(event.label, now) >= PLAIN_EVERY_S:
                self.printed[event.label] = now
                click.echo(record.getMessage())
            return
        if event.label not in self.tasks:
            self.tasks[event.label] = self.bars.add_task(event.label, total=event.total, rate="", eta="?")
        self.bars.update(
            self.tasks[event.label], completed=event.done, total=event.total, rate=event.rate, eta=event.eta
        )
        if event.finished:
            self.bars.remove_task(self.tasks.pop(event.label))


@contextmanager
def showing_progress(live: bool) -> Iterator[None]:
    """Attach the display to the progress logger while the demo runs."""
    display = ProgressDisplay(live)
    PROGRESS_LOGGER.addHandler(display)
    PROGRESS_LOGGER.setLevel(logging.DEBUG)
    PROGRESS_LOGGER.propagate = False  # the events are for this display, not for the root logger
    if display.bars:
        display.bars.start()
    try:
        yield
    finally:
        if display.bars:
            display.bars.stop()
        PROGRESS_LOGGER.removeHandler(display)
