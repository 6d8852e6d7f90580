"""The version of a registered model (emotion_model, emotion_classifier) the service serves, reloaded without a
restart when the promotion changes.

The served version follows ``models.lifecycle.registry.served_version``: the pinned one
(``FER_MODEL_VERSION``, ``FER_CLASSIFIER_VERSION``; it must exist: the service
refuses to start otherwise, naming those that do), else the registry's promoted
one. The pointer is re-read at most every ``RELOAD_INTERVAL_S``; a version that
cannot be loaded (corrupt or missing file, store down) leaves the previous model
in service and is reported by ``problem`` (``/healthz`` shows it).
"""

from __future__ import annotations

import logging
import threading
import time

import torch

from fer_platform.models.head import EmotionHead
from fer_platform.models.lifecycle.registry import ModelNotFoundError, ModelRegistry, load_version, served_version
from fer_platform.models.model import EmotionModel, ModelFileError
from fer_platform.storage.location import StorageUnavailableError

log = logging.getLogger(__name__)
RELOAD_INTERVAL_S = 2.0
LOAD_ERRORS = (ModelFileError, ModelNotFoundError, StorageUnavailableError, OSError, ValueError)


class ServedModel:
    """Thread-safe holder of (version, model); ``current()`` is what a request uses."""

    def __init__(self, registry: ModelRegistry, pinned: str | None, device: torch.device):
        self.registry, self.pinned, self.device = registry, pinned, device
        if pinned:
            registry.require(pinned)  # a pin naming no version: refuse to start
        self._lock = threading.Lock()
        self._current: tuple[str, EmotionModel | EmotionHead] | None = None
        self._checked = float("-inf")
        self.problem: str | None = None
        self.refresh()

    def current(self) -> tuple[str, EmotionModel | EmotionHead] | None:
        """The model to answer with (None when no version is served); re-reads the pointer when due."""
        if time.monotonic() - self._checked >= RELOAD_INTERVAL_S:
            self.refresh()
        return self._current

    def refresh(self) -> None:
        """Load the served version if it changed; one thread at a time, the others keep the current model."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._checked = time.monotonic()
            self._load()
        finally:
            self._lock.release()

    def _load(self) -> None:
        serving = self._current[0] if self._current else None
        version = "the promoted version"
        try:
            version = served_version(self.registry, self.pinned)
            if version is None or version == serving:
                self.problem = None
                return
            self._current = (version, load_version(self.registry, version, self.device))
            self.problem = None
            log.info("serving %s %s (was %s)", self.registry.name, version, serving or "none")
        except LOAD_ERRORS as exc:
            self.problem = f"{self.registry.name} {version} cannot be loaded: {exc}; still serving {serving or 'no model'}"
            log.error(self.problem)
