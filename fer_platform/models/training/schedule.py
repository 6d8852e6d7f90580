"""Learning-rate schedules of ``emotion_model`` (FER_TRAIN_SCHEDULE).

``plateau`` is the recipe's (Khaireddin & Chen: ReduceLROnPlateau on validation accuracy, factor 0.75,
patience 5), made for 300 GPU epochs. A run that the time budget ends (a CPU: ~13 epochs in 30 minutes)
never waits out that patience, so it would end at lr 0.01 on a noisy checkpoint. ``one_cycle`` fits the
budget instead (Smith & Topin 2019, "Super-Convergence", arXiv:1708.07120, with the cosine shape of
Loshchilov & Hutter 2017, SGDR): a linear warm-up from lr/10 over the first epoch, then a cosine anneal to
zero at the last epoch that fits, estimated after every epoch from the mean epoch time and the budget left.
``auto`` picks ``one_cycle`` when, after the first epoch, the budget will end training before the epoch limit,
else ``plateau``.
"""

from __future__ import annotations

import math

SCHEDULES = ("auto", "plateau", "one_cycle")
WARMUP_START = 0.1  # the warm-up starts at this fraction of the learning rate


def epochs_that_fit(budget_s: float, spent_s: float, epochs_done: int, max_epochs: int) -> int:
    """How many epochs the whole run will have when the budget ends, at the mean epoch time so far."""
    if epochs_done == 0:
        return max_epochs
    per_epoch = spent_s / epochs_done
    return max(epochs_done, min(max_epochs, epochs_done + int(max(0.0, budget_s - spent_s) // per_epoch)))


def resolve(schedule: str, fit: int, max_epochs: int) -> tuple[str, str]:
    """(schedule, why) once the first epoch has measured the pace."""
    if schedule not in SCHEDULES:
        raise ValueError(f"FER_TRAIN_SCHEDULE={schedule!r}: want one of {', '.join(SCHEDULES)}")
    if schedule != "auto":
        return schedule, "asked for with FER_TRAIN_SCHEDULE"
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
