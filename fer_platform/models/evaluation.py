"""Metrics of an emotion predictor on a labelled split, the same for every model the platform trains.

Accuracy alone flatters a model on FER2013, whose classes are unbalanced (disgust
is about 1.5 % of the images): macro-F1 and recall per emotion show what a model
does for the rare ones, and the calibration bins show whether its confidence
can be read as a probability (the service returns it as one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class CalibrationBin:
    """Predictions whose top probability fell in [low, high): their mean confidence and accuracy."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


@dataclass(frozen=True)
class Evaluation:
    """Test-split metrics; ``confusion`` rows are the true emotion, columns the predicted one."""

    classes: list[str]
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
    confusion: list[list[int]]
    samples: int
    calibration: list[CalibrationBin]
    expected_calibration_error: float

    def as_dict(self) -> dict:
        return asdict(self)


def f1_scores(confusion: np.ndarray) -> np.ndarray:
    """F1 per class from a confusion matrix (0 for a class never predicted nor present)."""
    true_positive = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    denominator = predicted + actual
    return np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)


def calibration_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> list[CalibrationBin]:
    """Equal-width confidence bins (the reliability diagram of Guo et al. 2017, "On Calibration of Modern
    Neural Networks"); empty bins are kept so every figure has the same axis."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        out.append(
            CalibrationBin(
                float(edges[b]),
                float(edges[b + 1]),
                n,
                float(confidence[mask].mean()) if n else 0.0,
                float(correct[mask].mean()) if n else 0.0,
            )
        )
    return out


def evaluate_probabilities(classes: list[str], labels: list[str], probabilities: np.ndarray) -> Evaluation:
    """Metrics of ``probabilities`` (one row per labelled sample, columns in ``classes`` order).

    A label the model does not know counts as an error in accuracy (it cannot be
    predicted) and is left out of the per-class figures.
    """
    if len(labels) != len(probabilities):
        raise ValueError(f"{len(labels)} labels for {len(probabilities)} predictions")
    predicted = probabilities.argmax(axis=1) if len(labels) else np.zeros(0, dtype=int)
    index = {c: i for i, c in enumerate(classes)}
    truth = np.array([index.get(label, -1) for label in labels], dtype=int)
    known = truth >= 0
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (truth[known], predicted[known]), 1)
    actual = confusion.sum(axis=1)
    recall = {c: float(confusion[i, i] / actual[i]) if actual[i] else 0.0 for i, c in enumerate(classes)}
    correct = truth == predicted
    confidence = probabilities.max(axis=1) if len(labels) else np.zeros(0)
    bins = calibration_bins(confidence, correct.astype(np.float64))
    ece = sum(b.count * abs(b.accuracy - b.confidence) for b in bins) / max(1, len(labels))
    present = (actual + confusion.sum(axis=0)) > 0  # as scikit-learn: classes true or predicted at least once
    return Evaluation(
        classes=list(classes),
        accuracy=float(correct.mean()) if len(labels) else 0.0,
        macro_f1=float(f1_scores(confusion)[present].mean()) if present.any() else 0.0,
        recall=recall,
        confusion=confusion.tolist(),
        samples=len(labels),
        calibration=bins,
        expected_calibration_error=float(ece),
    )


def confusion_image(classes: Sequence[str], confusion: Sequence[Sequence[int]], cell: int = 56) -> Image.Image:
    """The confusion matrix as a heat map (rows: true emotion, columns: predicted), counts in the cells."""
    label_w = 90
    size = (label_w + cell * len(classes), label_w + cell * len(classes))
    plot = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(plot)
    for i, name in enumerate(classes):
        draw.text((4, label_w + i * cell + cell // 2 - 6), name[:12], fill="black")
        draw.text((label_w + i * cell + 2, label_w - 16), name[:8], fill="black")
        total = max(1, sum(confusion[i]))
        for j, count in enumerate(confusion[i]):
            shade = int(255 * (1 - count / total))
            box = (label_w + j * cell, label_w + i * cell, label_w + (j + 1) * cell - 1, label_w + (i + 1) * cell - 1)
            draw.rectangle(box, fill=(shade, shade, 255))
            draw.text((box[0] + 6, box[1] + cell // 2 - 6), str(count), fill="black" if shade > 110 else "white")
    draw.text((4, 4), "rows: true, columns: predicted", fill="black")
    return plot
