"""label_issues' ranking: confident learning ranks a flipped label first; too few images per fold are refused
with the counts."""

import numpy as np
import polars as pl
import pytest
import torch

from fer_platform.models.faces import FaceSet, NotEnoughImagesError, load_split
from fer_platform.models.quality.label_issues import (
    learning_warnings,
    rank_label_issues,
    stratified_folds,
    without_issues,
)
from fer_platform_tests.support.textures import save, textures


def test_a_flipped_label_ranks_first_and_can_be_left_out(tmp_path):
    save(tmp_path / "train" / "a" / "x.png", textures(1, 3)[0])
    save(tmp_path / "train" / "b" / "y.png", textures(1, 4)[0])
    faces = load_split(tmp_path, "train")
    faces = type(faces)(faces.pixels.repeat(4, 1, 1), torch.tensor([0, 1, 0, 1, 0, 1, 1, 1]), faces.classes,
                        [f"f{i}" for i in range(8)], "x", {}, tuple(f"h{i}" for i in range(8)))
    probabilities = np.array([[0.9, 0.1], [0.1, 0.9]] * 4, dtype=np.float32)  # image 6 is class 0 by its looks
    ranked = rank_label_issues(faces, probabilities)
    assert ranked.row(0, named=True) | {"score": None} == {
        "filepath": "f6", "given_label": "b", "suggested_label": "a", "score": None, "is_issue": True
    }
    assert ranked["is_issue"].sum() == 1 and "f6" not in without_issues(faces, ranked).files


def test_exclusions_are_capped_per_emotion_likeliest_wrong_first():
    faces = load_split_of(10, 5)
    ranked = pl.DataFrame({
        "filepath": faces.files, "score": [i / 100 for i in range(15)], "is_issue": [True] * 15,
    })
    kept = without_issues(faces, ranked)
    assert kept.counts() == {"a": 8, "b": 4}  # 20 % of each at most
    assert {"f0", "f1", "f10"} & set(kept.files) == set()  # the lowest scores went first


def load_split_of(first: int, second: int):
    """A two-emotion FaceSet of ``first`` and ``second`` images named f0, f1, ..."""
    n = first + second
    return FaceSet(torch.zeros((n, 48, 48), dtype=torch.uint8), torch.tensor([0] * first + [1] * second),
                   ["a", "b"], [f"f{i}" for i in range(n)], "x", {})


def test_too_few_images_for_the_folds_are_refused_with_the_counts():
    with pytest.raises(NotEnoughImagesError, match="at least 5 images per emotion.*counts: angry=6, happy=3"):
        stratified_folds(torch.tensor([0] * 6 + [1] * 3), 5, seed=0, classes=["angry", "happy"])
    folds = stratified_folds(torch.tensor([0] * 10 + [1] * 5), 5, seed=0)
    assert sorted(torch.cat(folds).tolist()) == list(range(15)) and all(len(f) == 3 for f in folds)


def test_fold_models_near_chance_or_blind_to_an_emotion_are_named():
    labels = torch.tensor([0] * 60 + [1] * 20 + [2] * 20)
    faces = FaceSet(torch.zeros(100, 48, 48, dtype=torch.uint8), labels, ["happy", "sad", "fear"],
                    [f"f{i}" for i in range(100)], "x", {})
    always_happy = np.eye(3, dtype=np.float32)[np.zeros(100, dtype=int)]
    accuracy, recall, warnings = learning_warnings(faces, always_happy)
    assert accuracy == 0.6 and recall == {"happy": 1.0, "sad": 0.0, "fear": 0.0}
    assert "barely learned (out-of-sample accuracy 60.0%, chance 60.0%)" in warnings[0]
    assert "{'sad': 0.0, 'fear': 0.0}" in warnings[1]
    right = np.eye(3, dtype=np.float32)[labels.numpy()]
    assert learning_warnings(faces, right) == (1.0, {"happy": 1.0, "sad": 1.0, "fear": 1.0}, [])
