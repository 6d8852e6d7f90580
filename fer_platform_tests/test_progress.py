"""The progress line: count, share, rate, elapsed and ETA, reported at most every ``every_s`` and at the end."""

import logging

from fer_platform.progress import PROGRESS_LOGGER, Progress, duration


def test_duration_is_short():
    assert [duration(s) for s in (0, 45, 140, 3725)] == ["0s", "45s", "2m20s", "1h02m"]


def test_lines_are_throttled_and_the_last_always_comes(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("fer_platform.progress.time.monotonic", lambda: now[0])
    lines: list[str] = []
    progress = Progress("happy", 100, lines.append)
    now[0] = 1.0
    progress.advance(10)  # 1 s after the start: no line yet
    now[0] = 20.0
    progress.advance(40)  # 20 s: a line
    now[0] = 25.0
    progress.advance(10)  # 5 s after the last line: none
    now[0] = 40.0
    progress.finish()
    assert lines == [
        "happy: 50/100 images (50 %), 2.5 img/s, elapsed 20s, ETA 20s",
        "happy: 60/100 images (60 %), 1.5 img/s, elapsed 40s, ETA 27s",
    ]


def test_every_step_reaches_the_progress_logger(caplog):
    with caplog.at_level(logging.DEBUG, logger=PROGRESS_LOGGER.name):
        progress = Progress("sad", 3, None, unit="files")
        progress.advance()
        progress.advance(2)
        progress.finish()
    events = [r.fer_progress for r in caplog.records if hasattr(r, "fer_progress")]
    assert [(e.done, e.total, e.finished) for e in events] == [(1, 3, False), (3, 3, False), (3, 3, True)]


def test_a_budgeted_loop_shows_the_time_left_in_its_budget(monkeypatch):
    """Training that the budget will end after 3 of 300 epochs: the ETA is the budget left, not 297 epochs."""
    clock = [100.0]
    monkeypatch.setattr("fer_platform.progress.time.monotonic", lambda: clock[0])
    progress = Progress("training", 300, unit="epochs", budget_s=600)
    clock[0] += 200
    progress.advance()
    assert progress.eta() == "6m40s"  # 400 s of budget left; 299 epochs at 200 s each would be 16h36m
    assert Progress("training", 300, unit="epochs").eta() == "?"
