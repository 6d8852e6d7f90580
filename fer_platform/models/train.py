"""Training ``emotion_model``: the recipe of Khaireddin & Chen, "Facial Emotion Recognition: State of the Art
Performance on FER2013" (arXiv:2105.03588), with a time budget and early stopping on a validation slice.

From the paper: SGD with Nesterov momentum 0.9, learning rate 0.01, weight decay
1e-4, batch 64, ReduceLROnPlateau on validation accuracy (factor 0.75, patience
5), up to 300 epochs, their augmentation (``augment``), mixed precision on a GPU.
Added because the issue and FER's imbalance ask for them: cross-entropy weighted
by inverse class frequency (disgust is 1.5 % of FER2013), a stratified 10 %
validation slice of ``train/`` (FER2013's folders have no PublicTest split),
early stopping after 20 epochs without a better validation accuracy, and a time
budget; training always ends at the best validation checkpoint. Seeded: on a CPU
the same data, seed and thread count give the same weights.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import nn

from fer_platform.models.augment import augment
from fer_platform.models.faces import FaceSet
from fer_platform.models.model import EmotionModel
from fer_platform.models.network import build_network, resolve_arch


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


def recipe_for(
    arch: str, device: torch.device, budget_minutes: float, max_epochs: int, weights: str, seed: int = 0
) -> Recipe:
    """The recipe as the settings ask for it, with ``arch="auto"`` resolved for the device."""
    return Recipe(
        arch=resolve_arch(arch, device),
        budget_s=budget_minutes * 60,
        max_epochs=max_epochs,
        seed=seed,
        weights=weights,
    )


@dataclass
class Trained:
    """The best checkpoint and how training went."""

    model: EmotionModel
    epochs: int
    best_epoch: int
    stopped_by: str  # "budget", "early_stopping" or "max_epochs"
    train_seconds: float
    images_per_s: float
    validation_accuracy: list[float] = field(default_factory=list)


def stratified_split(labels: torch.Tensor, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(train indices, validation indices): ``fraction`` of every class, at least one image each."""
    train, validation = [], []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        cut = max(1, round(len(members) * fraction))
        validation.append(members[:cut])
        train.append(members[cut:])
    return torch.cat(train), torch.cat(validation)


def class_weights(labels: torch.Tensor, classes: int) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=classes).float().clamp(min=1)
    return counts.sum() / (classes * counts)


def accuracy(model: EmotionModel, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    probabilities, _ = model.infer(pixels)
    return float((torch.from_numpy(probabilities).argmax(dim=1) == labels).float().mean())


class Trainer:
    """One training run: the network, its optimiser and schedule, and the data split."""

    def __init__(self, faces: FaceSet, recipe: Recipe, device: torch.device):
        torch.manual_seed(recipe.seed)
        self.faces, self.recipe, self.device = faces, recipe, device
        self.generator = torch.Generator().manual_seed(recipe.seed)
        self.train_idx, self.val_idx = stratified_split(faces.labels, recipe.validation_fraction, self.generator)
        network = build_network(recipe.arch, len(faces.classes), recipe.weights)
        self.network = network.to(device, memory_format=torch.channels_last)  # ~30 % faster convolutions on CPU
        self.model = EmotionModel(recipe.arch, faces.classes, self.network, device)
        self.optimizer = torch.optim.SGD(
            self.network.parameters(),
            lr=recipe.learning_rate,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
            nesterov=True,
        )
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max", factor=recipe.plateau_factor, patience=recipe.plateau_patience
        )
        weights = class_weights(faces.labels[self.train_idx], len(faces.classes)).to(device)
        self.loss_fn = nn.CrossEntropyLoss(weight=weights)
        self.scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")

    def epoch(self, deadline: float) -> tuple[int, bool]:
        """One pass over the shuffled training images: (images seen, whether the budget ran out)."""
        self.network.train()
        order = self.train_idx[torch.randperm(len(self.train_idx), generator=self.generator)]
        seen = 0
        for batch in order.split(self.recipe.batch_size):
            x = augment(self.faces.pixels[batch], self.generator).to(self.device, memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
                loss = self.loss_fn(self.network(x), self.faces.labels[batch].to(self.device))
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            seen += len(batch)
            if time.monotonic() > deadline:
                return seen, True
        return seen, False

    def run(self, on_epoch: Optional[Callable[[int, float], None]] = None) -> Trained:
        """Epochs until the budget, early stopping or the limit; the network ends at the best checkpoint."""
        start = time.monotonic()
        seen, history, best_state, best_epoch, stopped_by = 0, [], None, 0, "max_epochs"
        for epoch in range(1, self.recipe.max_epochs + 1):
            count, out_of_time = self.epoch(start + self.recipe.budget_s)
            seen += count
            if out_of_time and best_state is not None:
                stopped_by = "budget"  # a partial epoch is never validated: the best full epoch stands
                break
            history.append(accuracy(self.model, self.faces.pixels[self.val_idx], self.faces.labels[self.val_idx]))
            if history[-1] > max(history[:-1], default=-1.0):
                best_state, best_epoch = copy.deepcopy(self.network.state_dict()), epoch
            self.scheduler.step(history[-1])
            if on_epoch:
                on_epoch(epoch, history[-1])
            if out_of_time or epoch - best_epoch >= self.recipe.early_stopping_patience:
                stopped_by = "budget" if out_of_time else "early_stopping"
                break
        seconds = time.monotonic() - start
        self.network.load_state_dict(best_state)
        self.network.eval()
        return Trained(self.model, len(history), best_epoch, stopped_by, seconds, seen / max(seconds, 1e-9), history)


def train_model(
    faces: FaceSet, recipe: Recipe, device: torch.device, on_epoch: Optional[Callable[[int, float], None]] = None
) -> Trained:
    """Train on ``faces`` until the budget, early stopping or the epoch limit; returns the best checkpoint."""
    return Trainer(faces, recipe, device).run(on_epoch)
