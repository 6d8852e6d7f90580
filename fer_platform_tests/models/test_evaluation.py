"""Metrics against hand-computed values: accuracy, macro-F1 (as scikit-learn defines it), recall, calibration."""

import numpy as np
import pytest

from fer_platform.models.evaluation import evaluate_probabilities


def test_metrics_of_a_small_confusion():
    # truth:     a a a b b c ; predicted: a a b b c c
    labels = ["a", "a", "a", "b", "b", "c"]
    predicted = [0, 0, 1, 1, 2, 2]
    probabilities = np.full((6, 3), 0.1)
    probabilities[np.arange(6), predicted] = 0.8
    result = evaluate_probabilities(["a", "b", "c"], labels, probabilities)
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.recall == pytest.approx({"a": 2 / 3, "b": 1 / 2, "c": 1.0})
    # F1: a = 2*2/(2+3) = 0.8, b = 2*1/(2+2) = 0.5, c = 2*1/(2+1) = 2/3
    assert result.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert result.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # All confidences are 0.8, in the bin [0.8, 0.9): accuracy 4/6 there, so ECE = |0.8 - 4/6|.
    full = [b for b in result.calibration if b.count]
    assert len(full) == 1 and full[0].low == pytest.approx(0.8) and full[0].count == 6
    assert result.expected_calibration_error == pytest.approx(0.8 - 4 / 6)


def test_unknown_labels_count_as_errors_but_not_as_a_class():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    result = evaluate_probabilities(["a", "b"], ["a", "zzz"], probabilities)
    assert result.accuracy == 0.5 and result.confusion == [[1, 0], [0, 0]]
