"""The emotion head on its own: fit, evaluate, serialize."""

import numpy as np
import pytest

from fer_platform.models.head import evaluate, fit_head
from fer_platform_tests.support.constants import TEST_EMOTIONS


def test_head_learns_separable_clusters_and_round_trips():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 512)).astype(np.float32)
    labels = [e for e in TEST_EMOTIONS for _ in range(50)]
    vectors = np.concatenate([c + 0.5 * rng.normal(size=(50, 512)).astype(np.float32) for c in centres])
    head = fit_head(vectors, labels, "model-x")
    evaluation = evaluate(head, vectors, labels)
    assert evaluation.accuracy == 1.0 and evaluation.confusion[0] == [50, 0, 0]
    again = type(head).from_bytes(head.to_bytes())
    assert np.allclose(again.probabilities(vectors[:5]), head.probabilities(vectors[:5]))
    with pytest.raises(ValueError, match="two emotions"):
        fit_head(vectors[:5], ["happy"] * 5, "model-x")
