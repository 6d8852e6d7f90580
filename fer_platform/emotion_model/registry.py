"""``emotion_model`` versions in the lake (``models/emotion_model/vNNNN/``) and which one is served.

A version holds ``model.pt``, ``model_card.md`` and ``metrics.json`` (written last:
see ``storage.registry``). The served version is ``FER_MODEL_VERSION`` when set,
else the promoted one (``promoted.json``, written by the ``not_worse_than_served``
check or by ``fer-platform promote``), else none.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from fer_platform.emotion_model.card import model_card
from fer_platform.emotion_model.faces import FaceSet
from fer_platform.emotion_model.model import EmotionModel
from fer_platform.emotion_model.train import Recipe, Trained
from fer_platform.evaluation import Evaluation
from fer_platform.storage.location import Location
from fer_platform.storage.registry import ModelRegistry

MODEL_PREFIX = "models/emotion_model"
WEIGHTS = "model.pt"
CARD = "model_card.md"


def emotion_registry(lake: Location) -> ModelRegistry:
    return ModelRegistry(lake, MODEL_PREFIX, "emotion_model")


def training_metrics(trained: Trained, evaluation: Evaluation, recipe: Recipe, train: FaceSet, test: FaceSet) -> dict:
    """``metrics.json``: the test-split figures, how training ended, and what it was trained on."""
    return {
        "accuracy": evaluation.accuracy,
        "macro_f1": evaluation.macro_f1,
        "recall_per_emotion": evaluation.recall,
        "expected_calibration_error": evaluation.expected_calibration_error,
        "confusion": evaluation.confusion,
        "test_samples": evaluation.samples,
        "epochs": trained.epochs,
        "best_epoch": trained.best_epoch,
        "stopped_by": trained.stopped_by,
        "train_seconds": round(trained.train_seconds, 2),
        "images_per_s": round(trained.images_per_s, 1),
        "validation_accuracy": trained.validation_accuracy,
        "classes": train.classes,
        "train_samples": len(train.files),
        "train_digest": train.digest,
        "test_digest": test.digest,
        "recipe": asdict(recipe),
        "device": str(trained.model.device),
    }


def register_model(lake: Location, trained: Trained, metrics: dict) -> str:
    """Register the trained model with its card; returns the new version."""
    files = {WEIGHTS: trained.model.to_bytes(), CARD: model_card(metrics).encode()}
    return emotion_registry(lake).register(files, metrics)


def load_model_version(registry: ModelRegistry, version: str, device: torch.device) -> EmotionModel:
    """One registered version's model (``ModelFileError`` when its file is damaged)."""
    return EmotionModel.from_bytes(registry.read(version, WEIGHTS), device)


def served_version(registry: ModelRegistry, pinned: str | None) -> str | None:
    """The version a service serves: the pinned one (which must exist), else the promoted one."""
    return registry.require(pinned) if pinned else registry.promoted()
