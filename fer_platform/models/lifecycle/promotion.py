"""Whether a new ``emotion_model`` version may replace the served one: both scored on the same test split.

"Not worse" allows a tolerance of one point of accuracy and of macro-F1 (two runs
of the same recipe differ by about that much on FER2013's 7,178 test images);
a version worse by more than that on either is not promoted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fer_platform.models.evaluation import Evaluation, evaluate_probabilities
from fer_platform.models.faces import FaceSet
from fer_platform.models.lifecycle.registry import EMOTION_MODEL, ModelRegistry
from fer_platform.models.lifecycle.tracking import follow_promotion
from fer_platform.models.model import EmotionModel

LOG = logging.getLogger(__name__)

TOLERANCE = 0.01


def evaluate_model(model: EmotionModel, test: FaceSet) -> Evaluation:
    """The model's metrics on a labelled split (emotions it does not know count as errors)."""
    probabilities, _ = model.infer(test.pixels)
    return evaluate_probabilities(model.classes, [test.classes[i] for i in test.labels.tolist()], probabilities)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


def not_worse(candidate: Evaluation, served: Evaluation | None, tolerance: float = TOLERANCE) -> Verdict:
    """Pass when nothing is served yet, or when neither accuracy nor macro-F1 drops by more than ``tolerance``."""
    if served is None:
        return Verdict(True, "no version is served yet")
    drops = [
        f"{name} {new:.3f} < served {old:.3f} - {tolerance}"
        for name, new, old in (
            ("accuracy", candidate.accuracy, served.accuracy),
            ("macro_f1", candidate.macro_f1, served.macro_f1),
        )
        if new < old - tolerance
    ]
    if drops:
        return Verdict(False, "worse than the served version: " + "; ".join(drops))
    return Verdict(
        True,
        f"accuracy {candidate.accuracy:.3f} vs {served.accuracy:.3f}, "
        f"macro_f1 {candidate.macro_f1:.3f} vs {served.macro_f1:.3f}",
    )


def promote(registry: ModelRegistry, version: str, log: Callable[[str], None] = LOG.warning) -> None:
    """Serve ``version`` (the registry's pointer); for emotion_model, MLflow's ``champion`` alias follows when
    MLFLOW_TRACKING_URI is set (a tracking failure is logged, the promotion stands)."""
    registry.promote(version)
    if registry.name == EMOTION_MODEL:
        follow_promotion(version, log)
