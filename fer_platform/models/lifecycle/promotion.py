"""Whether a new ``emotion_model`` version may be served: scored against the champion (the best version promoted
so far) on the validation slice of ``train/`` that no version trained on (``faces.validation_split``); ``test/``
is only reported, so it never chooses the served model.

"Not worse" allows a tolerance of one point of accuracy and of macro-F1 (two runs of the same recipe differ by
about that much); it is measured against the champion, which only changes to a version that beats it, so a
chain of versions each a little worse than the last cannot slide down: every promoted version is within the
tolerance of the best one.
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


def not_worse(candidate: Evaluation, champion: Evaluation | None, tolerance: float = TOLERANCE) -> Verdict:
    """Pass when there is no champion yet, or when neither accuracy nor macro-F1 is more than ``tolerance`` below
    the champion's."""
    if champion is None:
        return Verdict(True, "no version was promoted yet")
    drops = [
        f"{name} {new:.3f} < champion {old:.3f} - {tolerance}"
        for name, new, old in (
            ("accuracy", candidate.accuracy, champion.accuracy),
            ("macro_f1", candidate.macro_f1, champion.macro_f1),
        )
        if new < old - tolerance
    ]
    if drops:
        return Verdict(False, "worse than the champion on validation: " + "; ".join(drops))
    return Verdict(
        True,
        f"validation accuracy {candidate.accuracy:.3f} vs champion {champion.accuracy:.3f}, "
        f"macro_f1 {candidate.macro_f1:.3f} vs {champion.macro_f1:.3f}",
    )


def above_floor(accuracy_deduplicated: float | None, floor: float | None) -> Verdict:
    """The optional gate FER_MIN_ACCURACY_DEDUPLICATED: the candidate's accuracy on the test faces that are not
    also in train/ (near-duplicates removed, ``quality.overlap``) must reach ``floor``. A floor, not a comparison:
    the test split still never chooses between versions."""
    if floor is None:
        return Verdict(True, "")
    if accuracy_deduplicated is None:
        return Verdict(False, f"FER_MIN_ACCURACY_DEDUPLICATED={floor}, but the version has no deduplicated score")
    if accuracy_deduplicated < floor:
        unseen = f"accuracy_deduplicated {accuracy_deduplicated:.3f}"
        return Verdict(False, f"{unseen} < {floor} (FER_MIN_ACCURACY_DEDUPLICATED)")
    return Verdict(True, f"; accuracy_deduplicated {accuracy_deduplicated:.3f} >= {floor}")


def champion_after(candidate: str, champion: str | None, scored: Evaluation, champion_score: Evaluation | None) -> str:
    """The champion once ``candidate`` is promoted: the candidate if it beats the champion's validation accuracy
    (or there is none), else the champion stays."""
    if champion is None or champion_score is None or scored.accuracy > champion_score.accuracy:
        return candidate
    return champion


def promote(
    registry: ModelRegistry, version: str, log: Callable[[str], None] = LOG.warning, champion: str | None = None
) -> None:
    """Serve ``version`` (the registry's pointer, with the ``champion`` when the check names one); for
    emotion_model, MLflow's ``champion`` alias follows when MLFLOW_TRACKING_URI is set (a tracking failure is
    logged, the promotion stands)."""
    registry.promote(version, champion)
    if registry.name == EMOTION_MODEL:
        follow_promotion(version, log)
