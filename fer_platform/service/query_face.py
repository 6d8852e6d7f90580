"""What the models say of one query face, and the neighbours' vote: the values the engine hands the routes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from fer_platform.images.face import FaceCrop
from fer_platform.search.query import Neighbor


@dataclass(frozen=True)
class Prediction:
    emotion: str
    confidence: float
    source: str  # "knn" or "classifier:<version>"


@dataclass(frozen=True)
class ExpressionOutput:
    """The served emotion_model's view of a query face."""

    version: str
    scores: dict[str, float]  # probability per emotion
    features: np.ndarray  # L2-normalised, comparable with expression_vectors


@dataclass(frozen=True)
class QueryFace:
    """One decode of the upload and one pass of each model asked for (computed inside one admission slot)."""

    vector: np.ndarray | None  # the seed's ResNet18 vector; None when the seed space was not needed
    crop: FaceCrop
    expression: ExpressionOutput | None  # None unless asked for and an emotion_model is served
    classifier: Prediction | None = None  # the served classifier head's, when asked for and one is usable


def knn_vote(neighbours: list[Neighbor]) -> Prediction | None:
    """Distance-weighted vote: each neighbour counts 1 / (cosine distance + 0.001)."""
    if not neighbours:
        return None
    weights: dict[str, float] = defaultdict(float)
    for n in neighbours:
        weights[n.emotion] += 1.0 / (max(n.distance, 0.0) + 1e-3)
    emotion = max(weights, key=weights.__getitem__)
    return Prediction(emotion, weights[emotion] / sum(weights.values()), "knn")
