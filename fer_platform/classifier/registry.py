"""Versioned emotion heads in the lake: ``models/emotion_classifier/v0001/{model.pt,metrics.json}``.

Versions only ever grow; a new training run never overwrites an earlier one, so a
service pinned to a version (``FER_CLASSIFIER_VERSION``) keeps its exact model.
The writing rules (claim, then files, metrics last) are the lake registry's.
"""

from __future__ import annotations

from fer_platform.classifier.train import EmotionHead
from fer_platform.storage.location import Location
from fer_platform.storage.registry import ModelNotFoundError, ModelRegistry

MODEL_PREFIX = "models/emotion_classifier"
__all__ = ["MODEL_PREFIX", "ModelNotFoundError", "classifier_registry", "load", "register"]


def classifier_registry(lake: Location) -> ModelRegistry:
    return ModelRegistry(lake, MODEL_PREFIX, "emotion_classifier")


def register(lake: Location, head: EmotionHead, metrics: dict) -> str:
    """Write a new version and return its name."""
    return classifier_registry(lake).register({"model.pt": head.to_bytes()}, metrics)


def load(lake: Location, version: str | None = None) -> tuple[str, EmotionHead, dict]:
    """(version, head, metrics) of ``version``, or of the latest one when None."""
    registry = classifier_registry(lake)
    chosen = registry.require(version) if version else registry.latest()
    return chosen, EmotionHead.from_bytes(registry.read(chosen, "model.pt")), registry.metrics(chosen)
