"""The models' registry in the lake, one API for both models: ``models/<name>/vNNNN/`` and which version is served.

``emotion_model`` (the CNN trained on the faces) and ``emotion_classifier`` (a head on the seed's vectors) are
registered alike: a version holds ``model.pt`` (and, for emotion_model, ``model_card.md``) and ``metrics.json``,
written last (see ``storage.registry``). One rule decides what a service serves, for both: the pinned version
(``FER_MODEL_VERSION``, ``FER_CLASSIFIER_VERSION``), which must exist, else the promoted one (``promoted.json``),
else none. emotion_model is promoted by its ``not_worse_than_served`` check or ``fer-platform promote``;
emotion_classifier, which has no such check, promotes each version it registers.
"""

from __future__ import annotations

from typing import Callable

import torch

from fer_platform.models.card import model_card
from fer_platform.models.head import EmotionHead
from fer_platform.models.model import EmotionModel
from fer_platform.models.train import Trained
from fer_platform.storage.location import Location
from fer_platform.storage.registry import ModelNotFoundError, ModelRegistry

EMOTION_MODEL = "emotion_model"
EMOTION_CLASSIFIER = "emotion_classifier"
WEIGHTS = "model.pt"
CARD = "model_card.md"
__all__ = ["ModelNotFoundError", "model_registry", "served_version", "load_version", "model_prefix"]

# How each model's weights file becomes a model on a device.
LOADERS: dict[str, Callable[[bytes, torch.device], EmotionModel | EmotionHead]] = {
    EMOTION_MODEL: EmotionModel.from_bytes,
    EMOTION_CLASSIFIER: lambda data, _device: EmotionHead.from_bytes(data),
}


def model_prefix(name: str) -> str:
    """Where a model's versions live, relative to the lake root."""
    return f"models/{name}"


def model_registry(lake: Location, name: str) -> ModelRegistry:
    """The versions of ``name`` (``emotion_model`` or ``emotion_classifier``) in ``lake``."""
    if name not in LOADERS:
        raise ValueError(f"unknown model {name!r}: one of {', '.join(LOADERS)}")
    return ModelRegistry(lake, model_prefix(name), name)


def served_version(registry: ModelRegistry, pinned: str | None) -> str | None:
    """The version a service serves: the pinned one (which must exist), else the promoted one, else None."""
    return registry.require(pinned) if pinned else registry.promoted()


def load_version(registry: ModelRegistry, version: str, device: torch.device) -> EmotionModel | EmotionHead:
    """One registered version's model (``ModelFileError`` or a torch error when its file is damaged)."""
    return LOADERS[registry.name](registry.read(version, WEIGHTS), device)


def register_emotion_model(lake: Location, trained: Trained, metrics: dict) -> str:
    """Register a trained emotion_model with its card; returns the new version (not promoted: the check decides)."""
    files = {WEIGHTS: trained.model.to_bytes(), CARD: model_card(metrics).encode()}
    return model_registry(lake, EMOTION_MODEL).register(files, metrics)


def register_classifier(lake: Location, head: EmotionHead, metrics: dict) -> str:
    """Register a trained emotion_classifier and promote it (it has no promotion check); returns the version."""
    registry = model_registry(lake, EMOTION_CLASSIFIER)
    version = registry.register({WEIGHTS: head.to_bytes()}, metrics)
    registry.promote(version)
    return version
