"""The models' registry in the lake, one API for both models: ``models/<name>/vNNNN/`` and which version is served.

``emotion_model`` (the CNN trained on the faces) and ``emotion_classifier`` (a head on the seed's vectors) are
registered alike: a version holds ``model.pt`` (and, for emotion_model, ``model_card.md``) and ``metrics.json``,
written last. One rule decides what a service serves, for both: the pinned version
(``FER_MODEL_VERSION``, ``FER_CLASSIFIER_VERSION``), which must exist, else the promoted one (``promoted.json``),
else none. emotion_model is promoted by its ``not_worse_than_served`` check or ``fer-platform promote``;
emotion_classifier, which has no such check, promotes each version it registers.

Registering is safe against kills and concurrent writers. A version number is
claimed by creating ``vNNNN/.claim`` exclusively (a second writer gets the next
number), the version's files are written, and ``metrics.json`` is written last:
a version exists for readers only once its metrics do, so a run killed half way
leaves the registry as it was. ``promoted.json`` names the version a service
serves; it is replaced atomically, so a reader sees the old pointer or the new.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Callable

import torch

from fer_platform.lake.layout import model_prefix
from fer_platform.models.head import EmotionHead
from fer_platform.models.lifecycle.card import model_card
from fer_platform.models.model import EmotionModel
from fer_platform.models.training.train import Trained
from fer_platform.storage.location import Location

EMOTION_MODEL = "emotion_model"
EMOTION_CLASSIFIER = "emotion_classifier"
WEIGHTS = "model.pt"
CARD = "model_card.md"

VERSION = re.compile(r"^v(\d{4,})$")
METRICS = "metrics.json"
CLAIM = ".claim"
POINTER = "promoted.json"


class ModelNotFoundError(LookupError):
    """No registered version, or not the one asked for (the message lists those that exist)."""


class ModelRegistry:
    """The versions of one model under ``prefix`` in ``lake``."""

    def __init__(self, lake: Location, prefix: str, name: str):
        self.lake, self.prefix, self.name = lake, prefix.rstrip("/"), name

    def _numbers(self, complete: bool) -> list[int]:
        found: dict[str, set[str]] = {}
        for path in self.lake.names(f"{self.prefix}/"):
            parts = path[len(self.prefix) + 1 :].split("/")
            if len(parts) == 2 and VERSION.match(parts[0]):
                found.setdefault(parts[0], set()).add(parts[1])
        return sorted(int(v[1:]) for v, files in found.items() if not complete or METRICS in files)

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        return [f"v{n:04d}" for n in self._numbers(complete=True)]

    def register(self, files: dict[str, bytes], metrics: dict) -> str:
        """Write a new version (``files`` first, ``metrics.json`` last) and return its name."""
        self.lake.ensure()
        number = max(self._numbers(complete=False), default=0) + 1
        while not self.lake.create_exclusive(f"{self.prefix}/v{number:04d}/{CLAIM}", b""):
            number += 1  # another writer claimed it between our listing and our claim
        version = f"v{number:04d}"
        for name, data in files.items():
            self.lake.write_atomic(f"{self.prefix}/{version}/{name}", data)
        self.lake.write_atomic(f"{self.prefix}/{version}/{METRICS}", json.dumps(metrics, indent=2).encode())
        return version

    def require(self, version: str) -> str:
        """``version`` if it is registered, else ``ModelNotFoundError`` naming those that are."""
        available = self.versions()
        if version not in available:
            listed = ", ".join(available) or "none"
            raise ModelNotFoundError(
                f"{self.name} {version!r} not found under {self.lake.url}/{self.prefix}/; registered: {listed}"
            )
        return version

    def latest(self) -> str:
        available = self.versions()
        if not available:
            raise ModelNotFoundError(f"no {self.name} version under {self.lake.url}/{self.prefix}/")
        return available[-1]

    def read(self, version: str, name: str) -> bytes:
        return self.lake.read(f"{self.prefix}/{version}/{name}")

    def metrics(self, version: str) -> dict:
        return json.loads(self.read(version, METRICS))

    def pointer(self) -> dict | None:
        """The promotion pointer (``version``, ``champion``, ``promoted_at``), or None before the first promotion."""
        path = self.lake.path(f"{self.prefix}/{POINTER}")
        self.lake.fs.invalidate_cache()
        return json.loads(self.lake.read(f"{self.prefix}/{POINTER}")) if self.lake.fs.exists(path) else None

    def promoted(self) -> str | None:
        """The promoted version, or None before the first promotion."""
        pointer = self.pointer()
        return pointer["version"] if pointer else None

    def champion(self) -> str | None:
        """The best version promoted so far (what a candidate must not be worse than); the promoted one when the
        pointer names none (written before champions were kept)."""
        pointer = self.pointer()
        return pointer.get("champion", pointer["version"]) if pointer else None

    def promote(self, version: str, champion: str | None = None) -> None:
        """Point the service at ``version`` (a registered one); also how a version is rolled back. ``champion``:
        the best version so far, when the promotion check found a new one; else it stays what it was."""
        self.require(version)
        pointer = {
            "version": version,
            "champion": champion or self.champion() or version,
            "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self.lake.write_atomic(f"{self.prefix}/{POINTER}", json.dumps(pointer).encode())


# How each model's weights file becomes a model on a device.
LOADERS: dict[str, Callable[[bytes, torch.device], EmotionModel | EmotionHead]] = {
    EMOTION_MODEL: EmotionModel.from_bytes,
    EMOTION_CLASSIFIER: lambda data, _device: EmotionHead.from_bytes(data),
}


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
