"""Every choice of an ``emotion_model`` training, in one frozen value: what the model card records, what names a
training run's checkpoints (``training.checkpoints``) and what ``training.train`` follows. A module of its own so
that the trainer and its checkpoints both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fer_platform.models.network import resolve_arch


@dataclass(frozen=True)
class Recipe:
    """Every training choice, recorded in the model card."""

    arch: str
    budget_s: float
    max_epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    plateau_factor: float = 0.75
    plateau_patience: int = 5
    early_stopping_patience: int = 20
    validation_fraction: float = 0.1
    seed: int = 0
    weights: str = "imagenet"  # starting point of resnet18_imagenet only
    schedule: str = "auto"  # FER_TRAIN_SCHEDULE: auto, plateau or one_cycle (see models.schedule)
    epochs: int | None = None  # FER_TRAIN_EPOCHS: the run's length fixed in advance; None: fitted to the budget
    # Tuned on real faces (``bench real_faces``, BENCHMARKS.md "Real faces"); 0.0 / 0.0 / 1.0 / fp32 are the paper's.
    label_smoothing: float = 0.1  # Szegedy et al. 2016: FER2013's labels are noisy (models.training.loss)
    ema_decay: float = 0.999  # weights averaged per step (Polyak, models.training.averaging); 0: off
    class_weight_power: float = 0.5  # loss weights = (inverse class frequency) ** power: 1 inverse, 0 none
    precision: str = "auto"  # auto: bf16 autocast on a CPU that has bf16 kernels, fp16 on a GPU; fp32: none
    augment_strength: float | None = None  # FER_TRAIN_AUGMENT_STRENGTH; None: fitted to the run's length (augment)


def recipe_for(
    arch: str, device: torch.device, budget_minutes: float, max_epochs: int, weights: str, seed: int = 0,
    schedule: str = "auto",
    epochs: int | None = None,
    augment_strength: float | None = None,
) -> Recipe:
    """The recipe as the settings ask for it, with ``arch="auto"`` resolved for the device."""
    return Recipe(
        arch=resolve_arch(arch, device),
        budget_s=budget_minutes * 60,
        max_epochs=max_epochs,
        seed=seed,
        weights=weights,
        schedule=schedule,
        epochs=epochs,
        augment_strength=augment_strength,
    )
