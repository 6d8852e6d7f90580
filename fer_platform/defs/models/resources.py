"""The models stage's own resource, ``emotion_model_settings``: how ``emotion_model`` trains and which version is
served, built for the platform being loaded."""

import dataclasses
from typing import Optional

import torch
from dagster import ConfigurableResource, Definitions, definitions
from pydantic import Field

from fer_platform.embeddings.model import resolve_device
from fer_platform.models.quality.label_issues import FOLDS
from fer_platform.models.training.recipe import Recipe, recipe_for
from fer_platform.orchestration.loading import loading_platform
from fer_platform.settings import Device, ModelArch, TrainSchedule


class EmotionModelSettings(ConfigurableResource):
    """How ``emotion_model`` trains and which version is served (FER_MODEL_ARCH, FER_TRAIN_BUDGET_MINUTES,
    FER_TRAIN_MAX_EPOCHS, FER_TRAIN_SCHEDULE, FER_TRAIN_EPOCHS, FER_TRAIN_AUGMENT_STRENGTH, FER_EXCLUDE_LABEL_ISSUES,
    FER_MODEL_VERSION, FER_DEVICE, FER_WEIGHTS); ``seed`` is run config only."""

    arch: ModelArch = Field(description="auto, vgg, vgg_small or resnet18_imagenet.")
    budget_minutes: float = Field(description="Training ends at its best checkpoint after this long.")
    version: Optional[str] = Field(description="Pinned version; None = the promoted one.")
    device: Device = Field(description="auto, cpu or cuda.")
    weights: str = Field(description="Starting point of resnet18_imagenet (imagenet, random or a path).")
    max_epochs: int = Field(description="Epoch limit (the recipe's 300).")
    schedule: TrainSchedule = Field(default="auto", description="auto, plateau or one_cycle (FER_TRAIN_SCHEDULE).")
    epochs: Optional[int] = Field(default=None, description="The run's length fixed in advance (FER_TRAIN_EPOCHS).")
    augment_strength: Optional[float] = Field(
        default=None, description="0-1; None: fitted to the run's length (FER_TRAIN_AUGMENT_STRENGTH)."
    )
    min_accuracy_deduplicated: Optional[float] = Field(
        default=None, description="Promotion floor on the deduplicated test faces (FER_MIN_ACCURACY_DEDUPLICATED)."
    )
    exclude_label_issues: bool = Field(default=False, description="Train without label_issues' flagged images.")
    seed: int = Field(default=0, description="Seed of initialisation, split, shuffling and augmentation.")

    def torch_device(self) -> torch.device:
        return resolve_device(self.device)

    def fold_recipe(self) -> Recipe:
        """The recipe of one label_issues fold: a fifth of the training budget, the schedule fitted to it."""
        recipe = self.recipe()
        return dataclasses.replace(recipe, budget_s=recipe.budget_s / FOLDS)

    def recipe(self, device: torch.device | None = None) -> Recipe:
        """The training recipe for ``device`` (where training runs; by default this process's device)."""
        target = device or self.torch_device()
        return recipe_for(
            self.arch, target, self.budget_minutes, self.max_epochs, self.weights, self.seed, self.schedule,
            self.epochs, self.augment_strength,
        )


@definitions
def models_resources() -> Definitions:
    """``emotion_model_settings`` from FER_MODEL_ARCH, FER_TRAIN_*, FER_EXCLUDE_LABEL_ISSUES, FER_MODEL_VERSION."""
    settings = loading_platform().settings
    return Definitions(
        resources={
            "emotion_model_settings": EmotionModelSettings(
                arch=settings.model_arch,
                budget_minutes=settings.train_budget_minutes,
                max_epochs=settings.train_max_epochs,
                schedule=settings.train_schedule,
                epochs=settings.train_epochs,
                augment_strength=settings.train_augment_strength,
                min_accuracy_deduplicated=settings.min_accuracy_deduplicated,
                exclude_label_issues=settings.exclude_label_issues,
                version=settings.model_version,
                device=settings.device,
                weights=settings.weights,
            )
        }
    )
