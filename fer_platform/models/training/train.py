"""Training ``emotion_model``: the recipe of Khaireddin & Chen, "Facial Emotion Recognition: State of the Art
Performance on FER2013" (arXiv:2105.03588), with a time budget and early stopping on a validation slice.

From the paper: SGD with Nesterov momentum 0.9, learning rate 0.01, weight decay 1e-4, batch 64,
ReduceLROnPlateau on validation accuracy (factor 0.75, patience 5), up to 300 epochs, their augmentation
(``augment``), mixed precision on a GPU. Added because the issues, FER's imbalance and its noisy labels ask for
them: cross-entropy weighted by softened inverse class frequency and label smoothing (``loss``), the weights
averaged per step (``averaging``), bf16 autocast on a CPU that has the kernels, a stratified 10 % validation slice
of ``train/`` chosen by each face's pixels (``faces.validation_split``: the same faces every run and version, a
face's copies and mirror on one side; FER2013's folders have no PublicTest split), early stopping after 20 epochs
without a better validation accuracy, and a time budget; training always ends at the best validation checkpoint.
Seeded: on a CPU the same data, seed and thread count give the same weights. A run the budget ends anneals to it
instead of waiting on the plateau (``models.training.schedule``); with ``models.training.checkpoints`` every epoch
is saved and a killed run resumes exactly.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

import torch

from fer_platform.models.faces import FaceSet, validation_split
from fer_platform.models.model import EmotionModel
from fer_platform.models.network import build_network
from fer_platform.models.training.augment import augment, strength_for
from fer_platform.models.training.averaging import averaged_copy, horizon
from fer_platform.models.training.loss import loss_function
from fer_platform.models.training.precision import autocast_dtype
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.schedule import annealed_lr, epochs_that_fit, resolve, warmup_lr

if TYPE_CHECKING:
    from fer_platform.models.training.checkpoints import Checkpoints


@dataclass
class Trained:
    """The best checkpoint and how training went."""

    model: EmotionModel
    epochs: int
    best_epoch: int
    stopped_by: str  # "budget", "epochs" (FER_TRAIN_EPOCHS), "early_stopping" or "max_epochs"
    train_seconds: float
    images_per_s: float
    validation_accuracy: list[float] = field(default_factory=list)
    schedule: str = "plateau"  # the schedule that ran (``auto`` resolved)
    schedule_reason: str = ""
    curve: list[dict] = field(default_factory=list)  # per epoch: train_loss, validation_accuracy, learning_rate
    resumed_from: int = 0  # the epoch of the checkpoint this run continued (0: started fresh)
    fit_epochs: int = 0  # the run's length as fixed after its first epoch: FER_TRAIN_EPOCHS repeats it
    augment_strength: float = 1.0  # the augmentation's strength after the first epoch (augment.strength_for)


def accuracy(model: EmotionModel, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    """Centre-crop accuracy: what picks the best epoch (a tenth of ten-crop's forwards; the registered version is
    scored with ten crops)."""
    probabilities, _ = model.infer(pixels, views=1)
    return float((torch.from_numpy(probabilities).argmax(dim=1) == labels).float().mean())


class Trainer:
    """One training run: the network, its optimiser and schedule, and the data split."""

    def __init__(self, faces: FaceSet, recipe: Recipe, device: torch.device):
        torch.manual_seed(recipe.seed)
        self.faces, self.recipe, self.device = faces, recipe, device
        self.generator = torch.Generator().manual_seed(recipe.seed)
        self.train_idx, self.val_idx = validation_split(faces, recipe.validation_fraction)
        network = build_network(recipe.arch, len(faces.classes), recipe.weights)
        self.network = network.to(device, memory_format=torch.channels_last)  # ~30 % faster convolutions on CPU
        self.average = averaged_copy(self.network, recipe.ema_decay)
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
        self.loss_fn = loss_function(faces.labels[self.train_idx], len(faces.classes), recipe, device)
        self.autocast = autocast_dtype(device, recipe.precision)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.autocast == torch.float16)
        self.step, self.steps_per_epoch = 0, -(-len(self.train_idx) // recipe.batch_size)
        self.schedule: Optional[str] = None  # resolved after the first epoch
        self.schedule_reason, self.fit_epochs = "", recipe.max_epochs

    def evaluated(self) -> torch.nn.Module:
        """The weights validated, kept and registered: the per-step average (EMA) once the run spans its horizon
        (``averaging.horizon``), else the network."""
        spans = self.average is not None and self.step >= horizon(self.recipe.ema_decay)
        self.model.network = self.average.module if spans else self.network
        return self.model.network

    def augment_strength(self) -> float:
        """The recipe's strength, else the one fitted to the run's length once the first epoch has fixed it."""
        if self.recipe.augment_strength is not None:
            return self.recipe.augment_strength
        return strength_for(self.fit_epochs if self.schedule is not None else None)

    def learning_rate(self) -> float:
        """This step's rate under the schedule: warm-up in the first epoch (unless plateau was asked for), the
        cosine anneal once one_cycle is resolved, else whatever ReduceLROnPlateau has set."""
        base, per_epoch = self.recipe.learning_rate, self.steps_per_epoch
        if self.schedule is None and self.recipe.schedule != "plateau":
            return warmup_lr(base, self.step, per_epoch)
        if self.schedule == "one_cycle":
            return annealed_lr(base, self.step, per_epoch, self.fit_epochs * per_epoch)
        return self.optimizer.param_groups[0]["lr"]

    def epoch(self, deadline: float) -> tuple[int, bool, float]:
        """One pass over the shuffled training images: (images seen, whether the budget ran out, mean loss)."""
        self.network.train()
        order = self.train_idx[torch.randperm(len(self.train_idx), generator=self.generator)]
        seen, loss_sum = 0, 0.0
        for batch in order.split(self.recipe.batch_size):
            loss = self.train_step(batch, self.learning_rate())
            seen, loss_sum, self.step = seen + len(batch), loss_sum + loss * len(batch), self.step + 1
            if time.monotonic() > deadline:
                break
        return seen, time.monotonic() > deadline, loss_sum / max(1, seen)

    def train_step(self, batch: torch.Tensor, rate: float) -> float:
        """One optimiser step on the faces at ``batch`` (augmented) at learning rate ``rate``; the batch's loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        x = augment(self.faces.pixels[batch], self.generator, self.augment_strength())
        x = x.to(self.device, memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            loss = self.loss_fn(self.network(x).float(), self.faces.labels[batch].to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.average:
            self.average.update_parameters(self.network)
        return loss.item()

    def after_epoch(self, epoch: int, spent_s: float, accuracy: float) -> None:
        """After the first epoch, fix the run's length (FER_TRAIN_EPOCHS, else the epochs that fit the budget)
        and resolve the schedule: never re-estimated, so the rate follows steps, not the clock; step the
        plateau."""
        if self.schedule is None:
            fixed = self.recipe.epochs is not None
            max_epochs = self.recipe.max_epochs
            fit = min(self.recipe.epochs, max_epochs) if fixed else epochs_that_fit(
                self.recipe.budget_s, spent_s, epoch, max_epochs
            )
            self.fit_epochs = fit
            self.schedule, self.schedule_reason = resolve(self.recipe.schedule, fit, max_epochs, fixed)
        if self.schedule == "plateau":
            self.scheduler.step(accuracy)

    def stop_reason(self, epoch: int, out_of_time: bool, best_epoch: int) -> str | None:
        """Why training ends after ``epoch``, or None: the budget ran out, the run's fixed length was reached
        (FER_TRAIN_EPOCHS, or the epochs that fit the budget), or validation stopped improving."""
        if out_of_time:
            return "budget"
        if epoch >= self.fit_epochs:
            if self.fit_epochs >= self.recipe.max_epochs:
                return "max_epochs"
            return "epochs" if self.recipe.epochs is not None else "budget"
        return "early_stopping" if epoch - best_epoch >= self.recipe.early_stopping_patience else None

    def state(self, epoch: int, spent_s: float, seen: int, best: tuple, curve: list[dict]) -> dict:
        """Everything a resumed run needs to continue exactly where this one stands after ``epoch``."""
        return {
            "epoch": epoch, "spent_s": spent_s, "seen": seen, "best_state": best[0], "best_epoch": best[1],
            "curve": curve, "step": self.step, "schedule": self.schedule, "schedule_reason": self.schedule_reason,
            "fit_epochs": self.fit_epochs, "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(), "plateau": self.scheduler.state_dict(),
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "average": self.average.state_dict() if self.average else None,
            "scaler": self.scaler.state_dict(),  # a GPU run's loss scale: resumed exactly, not re-learned
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def restore(self, state: dict) -> tuple[int, float, int, tuple, list[dict]]:
        """Load a checkpoint's state; (epoch, spent seconds, images seen, (best weights, best epoch), curve)."""
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["plateau"])
        self.generator.set_state(state["generator"])
        if self.average and state.get("average"):
            self.average.load_state_dict(state["average"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("scaler"):  # empty on a CPU (the scaler is off), absent in checkpoints written before
            self.scaler.load_state_dict(state["scaler"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step, self.schedule, self.fit_epochs = state["step"], state["schedule"], state["fit_epochs"]
        self.schedule_reason = state["schedule_reason"]
        best = (state["best_state"], state["best_epoch"])
        return state["epoch"], state["spent_s"], state["seen"], best, state["curve"]

    def run(
        self, on_epoch: Optional[Callable[[int, float], None]] = None, checkpoints: Checkpoints | None = None
    ) -> Trained:
        """Epochs until the budget, early stopping or the limit; the network ends at the best checkpoint. With
        ``checkpoints`` (``models.training.checkpoints.Checkpoints``), the state is saved after every epoch and a saved
        one is resumed, its seconds counted against the budget."""
        saved = checkpoints.load() if checkpoints else None
        done, spent, seen, (best_state, best_epoch), curve = (
            self.restore(saved) if saved else (0, 0.0, 0, (None, 0), [])
        )
        start, stopped_by = time.monotonic() - spent, "max_epochs"
        for epoch in range(done + 1, self.recipe.max_epochs + 1):
            rate = self.learning_rate()
            count, out_of_time, loss = self.epoch(start + self.recipe.budget_s)
            seen += count
            if out_of_time and best_state is not None:
                stopped_by = "budget"  # a partial epoch is never validated: the best full epoch stands
                break
            evaluated = self.evaluated()
            score = accuracy(self.model, self.faces.pixels[self.val_idx], self.faces.labels[self.val_idx])
            curve.append({"epoch": epoch, "train_loss": loss, "validation_accuracy": score, "learning_rate": rate})
            if score > max((c["validation_accuracy"] for c in curve[:-1]), default=-1.0):
                best_state, best_epoch = copy.deepcopy(evaluated.state_dict()), epoch
            self.after_epoch(epoch, time.monotonic() - start, score)
            if checkpoints:
                checkpoints.save(self.state(epoch, time.monotonic() - start, seen, (best_state, best_epoch), curve))
            if on_epoch:
                on_epoch(epoch, score)
            if stop := self.stop_reason(epoch, out_of_time, best_epoch):
                stopped_by = stop
                break
        seconds = time.monotonic() - start
        self.evaluated().load_state_dict(best_state)
        self.model.network.eval()
        return Trained(
            self.model, len(curve), best_epoch, stopped_by, seconds, seen / max(seconds, 1e-9),
            [c["validation_accuracy"] for c in curve],
            self.schedule or "plateau", self.schedule_reason, curve, done, self.fit_epochs, self.augment_strength(),
        )


def train_model(
    faces: FaceSet, recipe: Recipe, device: torch.device,
    on_epoch: Optional[Callable[[int, float], None]] = None, checkpoints: Checkpoints | None = None,
) -> Trained:
    """Train on ``faces`` until the budget, early stopping or the epoch limit; returns the best checkpoint.
    ``checkpoints`` (``models.training.checkpoints.Checkpoints``) makes the run resumable."""
    return Trainer(faces, recipe, device).run(on_epoch, checkpoints)
