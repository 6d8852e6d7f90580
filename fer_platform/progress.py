"""Progress of long loops (embedding, uploads, lake copies, training) in one format: count, rate, elapsed, ETA.

A ``Progress`` writes a line through its ``report`` callable (a run's
``context.log.info``, so the UI's run log shows it) at most every ``every_s``
seconds and once at the end. Every step is also sent, unthrottled, to the
``fer_platform.progress`` Python logger with the numbers attached, so a console
(``fer-platform demo``) can draw live bars without parsing text.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

PROGRESS_LOGGER = logging.getLogger("fer_platform.progress")
REPORT_EVERY_S = 15.0
UNIT_RATES = {"images": "img", "files": "files", "epochs": "epochs", "rows": "rows"}


def duration(seconds: float) -> str:
    """``45s``, ``2m20s``, ``1h02m``: short enough for a progress line."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a loop, as a console listener receives it."""

    label: str
    done: int
    total: int
    unit: str
    finished: bool
    rate: str  # "36.9 img/s"
    eta: str  # "2m20s", "?" before the first item


@dataclass
class Progress:
    """Counts ``done`` of ``total`` and reports ``label: done/total unit (p %), rate, elapsed, ETA``."""

    label: str
    total: int
    report: Optional[Callable[[str], None]] = None
    unit: str = "images"
    every_s: float = REPORT_EVERY_S
    budget_s: Optional[float] = None  # a loop that a time budget ends (training): the ETA is at most what is left
    done: int = 0
    started: float = field(default_factory=lambda: time.monotonic())
    last_report: float = field(default_factory=lambda: time.monotonic())

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more items; report when ``every_s`` passed since the last line."""
        self.done += count
        self._emit(finished=False)
        now = time.monotonic()
        if self.report and now - self.last_report >= self.every_s:
            self.last_report = now
            self.report(self.line())

    def finish(self) -> None:
        """The closing line (always reported)."""
        self._emit(finished=True)
        if self.report:
            self.report(self.line())

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def rate_text(self) -> str:
        return f"{self.rate:.1f} {UNIT_RATES.get(self.unit, self.unit)}/s"

    def eta(self) -> str:
        left = self.total - self.done
        if left <= 0:
            return "0s"
        by_rate = left / self.rate if self.rate > 0 else None
        if self.budget_s is not None:
            budget_left = max(0.0, self.budget_s - (time.monotonic() - self.started))
            return duration(budget_left if by_rate is None else min(by_rate, budget_left))
        return duration(by_rate) if by_rate is not None else "?"

    def line(self) -> str:
        """``happy: 2,048/7,215 images (28 %), 36.9 img/s, elapsed 55s, ETA 2m20s``."""
        elapsed = time.monotonic() - self.started
        share = self.done / self.total if self.total else 1.0
        return (
            f"{self.label}: {self.done:,}/{self.total:,} {self.unit} ({share * 100:.0f} %), "
            f"{self.rate_text()}, elapsed {duration(elapsed)}, ETA {self.eta()}"
        )

    def _emit(self, finished: bool) -> None:
        if PROGRESS_LOGGER.isEnabledFor(logging.DEBUG):
            event = ProgressEvent(self.label, self.done, self.total, self.unit, finished, self.rate_text(), self.eta())
            PROGRESS_LOGGER.debug(self.line(), extra={"fer_progress": event})
