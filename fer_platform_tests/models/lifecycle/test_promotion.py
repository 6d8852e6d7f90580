"""The promotion rule: not worse than the champion by more than the tolerance, on both metrics, and the champion
changes only to a version that beats it (no slide)."""

import numpy as np

from fer_platform.models.evaluation import evaluate_probabilities
from fer_platform.models.lifecycle.promotion import TOLERANCE, above_floor, champion_after, not_worse

CLASSES = ["a", "b"]


def evaluation(correct: int, of: int = 1000):
    labels = ["a"] * (of // 2) + ["b"] * (of - of // 2)
    probabilities = np.array([[0.9, 0.1] if label == "a" else [0.1, 0.9] for label in labels])
    probabilities[correct:] = probabilities[correct:, ::-1]
    return evaluate_probabilities(CLASSES, labels, probabilities)


def test_no_champion_yet_passes():
    assert not_worse(evaluation(600), None).passed


def test_within_the_tolerance_passes_and_a_drop_beyond_it_fails():
    assert not_worse(evaluation(900), evaluation(900)).passed
    assert not_worse(evaluation(900), evaluation(900 + int(TOLERANCE * 1000) // 2)).passed
    verdict = not_worse(evaluation(800), evaluation(900))
    assert not verdict.passed and "accuracy 0.800 < champion 0.900" in verdict.reason


def test_three_versions_each_a_little_worse_cannot_slide():
    """v1 scores 0.900; v2 0.7 points below it passes but does not become the champion; v3, 0.7 points below v2,
    is measured against v1 (1.4 points below) and fails: a chain of tolerances would have passed it."""
    scores = {"v1": evaluation(900), "v2": evaluation(893), "v3": evaluation(886)}
    champion = None
    promoted = []
    for version, scored in scores.items():
        best = scores[champion] if champion else None
        if not_worse(scored, best).passed:
            promoted.append(version)
            champion = champion_after(version, champion, scored, best)
    assert promoted == ["v1", "v2"] and champion == "v1"
    assert not_worse(scores["v3"], scores["v2"]).passed  # what comparing with the last promoted would have done


def test_a_better_version_becomes_the_champion():
    assert champion_after("v2", "v1", evaluation(950), evaluation(900)) == "v2"
    assert champion_after("v1", None, evaluation(600), None) == "v1"


def test_the_deduplicated_floor_holds_back_a_version_only_when_set():
    assert above_floor(0.41, None).passed and above_floor(None, None).passed
    assert above_floor(0.71, 0.7).passed
    held = above_floor(0.69, 0.7)
    assert not held.passed and "accuracy_deduplicated 0.690 < 0.7" in held.reason
    assert not above_floor(None, 0.7).passed
