"""Versioned emotion heads in the lake: ``models/emotion_classifier/v0001/{model.pt,metrics.json}``.

Versions only ever grow; a new training run never overwrites an earlier one, so a
service pinned to a version (``FER_CLASSIFIER_VERSION``) keeps its exact model.
"""

from __future__ import annotations

import json
import re

from fer_platform.classifier.train import EmotionHead
from fer_platform.storage.location import Location

MODEL_PREFIX = "models/emotion_classifier"
VERSION = re.compile(r"^v(\d{4,})$")


class ModelNotFoundError(LookupError):
    """No registered version (or not the pinned one)."""


def versions(lake: Location) -> list[str]:
    """Registered versions, oldest first (only those whose model and metrics are both written)."""
    found: dict[str, set[str]] = {}
    for name in lake.names(f"{MODEL_PREFIX}/"):
        parts = name[len(MODEL_PREFIX) + 1 :].split("/")
        if len(parts) == 2 and VERSION.match(parts[0]):
            found.setdefault(parts[0], set()).add(parts[1])
    complete = [v for v, files in found.items() if {"model.pt", "metrics.json"} <= files]
    return sorted(complete, key=lambda v: int(v[1:]))


def register(lake: Location, head: EmotionHead, metrics: dict) -> str:
    """Write a new version (model first, metrics last: a version is complete once its metrics exist)."""
    lake.ensure()
    existing = versions(lake)
    version = f"v{(int(existing[-1][1:]) + 1) if existing else 1:04d}"
    lake.fs.pipe_file(lake.path(f"{MODEL_PREFIX}/{version}/model.pt"), head.to_bytes())
    lake.fs.pipe_file(lake.path(f"{MODEL_PREFIX}/{version}/metrics.json"), json.dumps(metrics, indent=2).encode())
    return version


def load(lake: Location, version: str | None = None) -> tuple[str, EmotionHead, dict]:
    """(version, head, metrics) of ``version``, or of the latest one when None."""
    available = versions(lake)
    if not available:
        raise ModelNotFoundError(f"no emotion_classifier version under {lake.url}/{MODEL_PREFIX}/")
    chosen = version or available[-1]
    if chosen not in available:
        raise ModelNotFoundError(f"emotion_classifier {chosen!r} not found; available: {', '.join(available)}")
    head = EmotionHead.from_bytes(lake.fs.cat_file(lake.path(f"{MODEL_PREFIX}/{chosen}/model.pt")))
    metrics = json.loads(lake.fs.cat_file(lake.path(f"{MODEL_PREFIX}/{chosen}/metrics.json")))
    return chosen, head, metrics
