"""Weights averaged per step (Polyak averaging as an exponential moving average): the averaged copy is what a
training run validates, keeps and registers, because on noisy labels it generalises better than the last step's
weights (issue 34, BENCHMARKS.md "Real faces").
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def warmed_ema(decay: float) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The per-step average of the weights, its decay warmed up as ``min(decay, (1 + n) / (10 + n))`` after ``n``
    steps (TensorFlow's ExponentialMovingAverage with ``num_updates``): with a fixed 0.999 the random start still
    weighs 55 % after the first 600 steps, and on real faces such an average predicted one class after an epoch."""

    def average(averaged: torch.Tensor, current: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        rate = min(decay, (1 + float(steps)) / (10 + float(steps)))
        return averaged * rate + current * (1 - rate)

    return average


def horizon(decay: float) -> int:
    """The steps an average of ``decay`` spans (``1 / (1 - decay)``): before a run has taken that many, the average
    lags the weights by much of the run, so training validates the network instead. Measured on a 30-step run of
    the tests' sample faces, where learning starts in the last ten steps: validating a 0.999 average from the
    first step kept a model at chance (three seeds), the gated one matched the plain network."""
    return round(1 / (1 - decay)) if 0 < decay < 1 else 0


def averaged_copy(network: nn.Module, decay: float) -> AveragedModel | None:
    """The network's averaged copy (batch-norm buffers averaged too), or None when ``decay`` is 0 (averaging off)."""
    if decay <= 0:
        return None
    return AveragedModel(network, avg_fn=warmed_ema(decay), use_buffers=True)
