"""Learning-rate schedules of ``emotion_model`` (FER_TRAIN_SCHEDULE).

``plateau`` is the recipe's (Khaireddin & Chen: ReduceLROnPlateau on validation accuracy, factor 0.75,
patience 5), made for 300 GPU epochs. A run that the time budget ends (a CPU: ~13 epochs in 30 minutes)
never waits out that patience, so it would end at lr 0.01 on a noisy checkpoint. ``one_cycle`` fits the
budget instead (Smith & Topin 2019, "Super-Convergence", arXiv:1708.07120, with the cosine shape of
Loshchilov & Hutter 2017, SGDR): a linear warm-up from lr/10 over the first epoch, then a cosine anneal to
zero at the last epoch that fits. That epoch is estimated once, after the first epoch, from its time and
``BUDGET_SHARE`` of the budget left, and then kept: the schedule never follows the wall clock again, so a run
of ``FER_TRAIN_EPOCHS`` = the epochs a budget run fitted (its metadata says them) repeats it step for step, and
gives the same weights on the same machine and thread count. ``auto`` picks ``one_cycle`` when the budget (or
``FER_TRAIN_EPOCHS``) ends training before the epoch limit, else ``plateau``.
"""

from __future__ import annotations

import math

SCHEDULES = ("auto", "plateau", "one_cycle")
WARMUP_START = 0.1  # the warm-up starts at this fraction of the learning rate
BUDGET_SHARE = 0.92  # of the budget left after the first epoch, planned for: later epochs may run slower


def epochs_that_fit(budget_s: float, spent_s: float, epochs_done: int, max_epochs: int) -> int:
    """How many epochs the whole run will have when the budget ends, at the mean epoch time so far and with
    ``BUDGET_SHARE`` of the budget left."""
    if epochs_done == 0:
        return max_epochs
    per_epoch, left = spent_s / epochs_done, max(0.0, budget_s - spent_s) * BUDGET_SHARE
    return max(epochs_done, min(max_epochs, epochs_done + int(left // per_epoch)))


def resolve(schedule: str, fit: int, max_epochs: int, fixed: bool = False) -> tuple[str, str]:
    """(schedule, why) once the first epoch has measured the pace (``fixed``: ``fit`` is FER_TRAIN_EPOCHS)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"FER_TRAIN_SCHEDULE={schedule!r}: want one of {', '.join(SCHEDULES)}")
    if schedule != "auto":
        return schedule, "asked for with FER_TRAIN_SCHEDULE"
    if fixed and fit < max_epochs:
        return "one_cycle", f"auto: FER_TRAIN_EPOCHS={fit}, so the learning rate is annealed to zero at epoch {fit}"
    if fit < max_epochs:
        return "one_cycle", (
            f"auto: the time budget ends training after about {fit} of {max_epochs} epochs, so the learning rate "
            f"is annealed to zero at the end of the budget"
        )
    return "plateau", f"auto: all {max_epochs} epochs fit in the budget, so the recipe's plateau schedule"


def warmup_lr(base_lr: float, step: int, steps: int) -> float:
    """Linear from ``WARMUP_START * base_lr`` to ``base_lr`` over ``steps`` steps."""
    return base_lr * (WARMUP_START + (1 - WARMUP_START) * min(1.0, (step + 1) / max(1, steps)))


def annealed_lr(base_lr: float, step: int, start: int, end: int) -> float:
    """Cosine from ``base_lr`` at step ``start`` to zero at step ``end``."""
    progress = min(1.0, max(0.0, (step - start) / max(1, end - start)))
    return base_lr * 0.5 * (1 + math.cos(math.pi * progress))
