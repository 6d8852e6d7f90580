"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", section 3.3;
fastai's ``lr_find``) on the real FER2013 training faces (issue 34): where should the one-cycle peak be?

    python -m fer_platform_tests.bench lr_range [--steps 300] [--low 1e-5] [--high 1.0] [--threads 2]

The recipe's network, optimiser, loss and precision (``Trainer.train_step``, the defaults of ``Recipe``) take
``--steps`` steps on the training faces of ``bench real_faces`` (its held-out slice is left out here too) while
the rate grows exponentially from ``--low`` to ``--high``; the loss, smoothed (0.98) and debiased, is printed
against the rate, until it passes four times its minimum. Printed: the rate of the steepest descent of the
smoothed loss (per log-rate) and a tenth of the rate at its minimum (fastai's two suggestions), beside the
recipe's peak (``Recipe.learning_rate``).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import Trainer
from fer_platform_tests.bench.real_faces import TARBALL, held_out, real_faces

SMOOTHING = 0.98
DIVERGED = 4.0  # the test ends once the smoothed loss passes this multiple of its minimum


def range_test(trainer: Trainer, steps: int, low: float, high: float) -> list[tuple[float, float]]:
    """(rate, smoothed loss) per step, the rate growing exponentially from ``low`` to ``high``."""
    trainer.network.train()
    order = trainer.train_idx[torch.randperm(len(trainer.train_idx), generator=trainer.generator)]
    batches = order.split(trainer.recipe.batch_size)
    smoothed, lowest, curve = 0.0, math.inf, []
    for step in range(steps):
        rate = low * (high / low) ** (step / max(1, steps - 1))
        loss = trainer.train_step(batches[step % len(batches)], rate)
        smoothed = SMOOTHING * smoothed + (1 - SMOOTHING) * loss
        debiased = smoothed / (1 - SMOOTHING ** (step + 1))
        curve.append((rate, debiased))
        lowest = min(lowest, debiased)
        if debiased > DIVERGED * lowest:
            break
    return curve


def suggestions(curve: list[tuple[float, float]]) -> tuple[float, float]:
    """(rate of the steepest descent of the smoothed loss per log-rate, a tenth of the rate at its minimum)."""
    rates, losses = np.array([r for r, _ in curve]), np.array([loss for _, loss in curve])
    skip = min(10, len(curve) // 10)  # the first steps' debiased average is noisy
    slopes = np.gradient(losses[skip:], np.log(rates[skip:]))
    return float(rates[skip:][slopes.argmin()]), float(rates[losses.argmin()] / 10)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench lr_range")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--low", type=float, default=1e-5)
    parser.add_argument("--high", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tarball", type=Path, default=TARBALL)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        train, _ = held_out(real_faces(args.tarball, Path(work)))
    recipe = Recipe(arch="vgg_small", budget_s=3600)
    curve = range_test(Trainer(train, recipe, torch.device("cpu")), args.steps, args.low, args.high)
    print("| step | learning rate | smoothed loss |\n|---:|---:|---:|")
    for step in range(0, len(curve), max(1, len(curve) // 25)):
        print(f"| {step} | {curve[step][0]:.2e} | {curve[step][1]:.3f} |")
    steepest, tenth = suggestions(curve)
    print(f"\n{len(curve)} steps; steepest descent at lr {steepest:.2e}, a tenth of the minimum's lr {tenth:.2e}; "
          f"the recipe's peak {recipe.learning_rate:.2e}")
