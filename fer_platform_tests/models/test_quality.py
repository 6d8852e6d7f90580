"""The data's own problems: planted copies of train images in test/ are found (identical and near: re-encoded,
brightened, shifted) and nothing else; confident learning ranks a flipped label first; too few images per
fold are refused with the counts."""


import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image, ImageEnhance

from fer_platform.models.faces import NotEnoughImagesError, load_split
from fer_platform.models.label_issues import rank_label_issues, stratified_folds, without_issues
from fer_platform.models.overlap import find_overlap, without_overlap


def textures(count: int, seed: int) -> list[np.ndarray]:
    """Distinct smooth random 48x48 images (unlike the synthetic faces, which share templates)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(count, 12, 12)).astype(np.uint8)
    return [np.array(Image.fromarray(c).resize((48, 48), Image.BICUBIC)) for c in coarse]


def save(path, pixels: np.ndarray, fmt: str = "PNG", **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, fmt, **options)


def test_planted_copies_are_found_and_distinct_images_are_not(tmp_path):
    train = textures(40, seed=1)
    for i, img in enumerate(train):
        save(tmp_path / "train" / ("a" if i % 2 else "b") / f"t{i}.png", img)
    for i, img in enumerate(textures(20, seed=2)):  # distinct test images
        save(tmp_path / "test" / "a" / f"d{i}.png", img)
    (tmp_path / "test" / "b").mkdir(parents=True)
    (tmp_path / "test" / "b" / "same.png").write_bytes((tmp_path / "train" / "b" / "t0.png").read_bytes())
    save(tmp_path / "test" / "b" / "jpeg.jpg", train[2], "JPEG", quality=60)
    brighter = np.array(ImageEnhance.Brightness(Image.fromarray(train[4])).enhance(1.15))
    save(tmp_path / "test" / "b" / "bright.png", brighter)
    save(tmp_path / "test" / "a" / "shifted.png", np.roll(train[3], (2, -1), axis=(0, 1)))
    train_set = load_split(tmp_path, "train")
    test_set = load_split(tmp_path, "test", train_set.classes)
    found = find_overlap(train_set, test_set)
    assert dict(zip(found["test_filepath"], found["train_filepath"])) == {
        "test/a/shifted.png": "train/a/t3.png",
        "test/b/bright.png": "train/b/t4.png",
        "test/b/jpeg.jpg": "train/b/t2.png",
        "test/b/same.png": "train/b/t0.png",
    }
    assert dict(zip(found["test_filepath"], found["kind"]))["test/b/same.png"] == "identical"
    assert found.filter(pl.col("kind") == "near")["distance"].max() < 0.05
    assert len(without_overlap(test_set, found).files) == 20


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


def test_too_few_images_for_the_folds_are_refused_with_the_counts():
    with pytest.raises(NotEnoughImagesError, match="at least 5 images per emotion.*counts: angry=6, happy=3"):
        stratified_folds(torch.tensor([0] * 6 + [1] * 3), 5, seed=0, classes=["angry", "happy"])
    folds = stratified_folds(torch.tensor([0] * 10 + [1] * 5), 5, seed=0)
    assert sorted(torch.cat(folds).tolist()) == list(range(15)) and all(len(f) == 3 for f in folds)
