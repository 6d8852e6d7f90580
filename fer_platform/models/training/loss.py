"""The training loss of ``emotion_model``: cross-entropy with softened class weights and label smoothing, the two
choices the real faces asked for (issue 34, BENCHMARKS.md "Real faces"). A module of its own so that the trainer
holds the loop and this holds what the loop minimises.
"""

from __future__ import annotations

import torch
from torch import nn

from fer_platform.models.training.recipe import Recipe


def class_weights(labels: torch.Tensor, classes: int, power: float = 1.0) -> torch.Tensor:
    """Inverse class frequency raised to ``power``: 1 balances the classes fully, which on FER2013 trades
    accuracy on the common classes for recall on disgust; 0.5 softens it (``Recipe.class_weight_power``)."""
    counts = torch.bincount(labels, minlength=classes).float().clamp(min=1)
    return (counts.sum() / (classes * counts)) ** power


def loss_function(labels: torch.Tensor, classes: int, recipe: Recipe, device: torch.device) -> nn.CrossEntropyLoss:
    """The recipe's loss for training ``labels``: weighted cross-entropy, smoothed by ``recipe.label_smoothing``
    (Szegedy et al. 2016: FER2013's crowd labels are noisy, and a hard one-hot target rewards memorising them)."""
    weights = class_weights(labels, classes, recipe.class_weight_power)
    return nn.CrossEntropyLoss(weight=weights.to(device), label_smoothing=recipe.label_smoothing)
