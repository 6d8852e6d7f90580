"""The promotion rule: not worse than the served version by more than the tolerance, on both metrics."""

import numpy as np

from fer_platform.models.evaluation import evaluate_probabilities
from fer_platform.models.lifecycle.promotion import TOLERANCE, not_worse

CLASSES = ["a", "b"]


def evaluation(correct: int, of: int = 1000):
    labels = ["a"] * (of // 2) + ["b"] * (of - of // 2)
    probabilities = np.array([[0.9, 0.1] if label == "a" else [0.1, 0.9] for label in labels])
    probabilities[correct:] = probabilities[correct:, ::-1]
    return evaluate_probabilities(CLASSES, labels, probabilities)


def test_nothing_served_passes():
    assert not_worse(evaluation(600), None).passed


def test_within_the_tolerance_passes_and_a_drop_beyond_it_fails():
    assert not_worse(evaluation(900), evaluation(900)).passed
    assert not_worse(evaluation(900), evaluation(900 + int(TOLERANCE * 1000) // 2)).passed
    verdict = not_worse(evaluation(800), evaluation(900))
    assert not verdict.passed and "accuracy 0.800 < served 0.900" in verdict.reason
