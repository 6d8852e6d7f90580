"""Test images that are also in ``train/``, and train images that are in ``train/`` twice: the same pixels
(whatever the file's bytes), a mirrored copy, or the same photo re-encoded, brightened, shifted or re-cropped a
little (mirrored too; ``models.copies`` finds those and says how its threshold was set on real faces).

Such copies inflate every test score (FER2013's public splits hold some), and inside train/ they would inflate
the validation score that picks checkpoints and promotes versions, so ``faces.validation_split`` keeps them on
one side. Identical: the same decoded 48x48 pixels (a face saved again at another PNG compression is new bytes,
not a new face); mirrored: the same pixels flipped left-right (a common augmentation); near: a confirmed copy.
``distance`` is 1 - the copy's correlation (0 for identical and mirrored).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from fer_platform.models.copies import near_copies
from fer_platform.models.faces import FaceSet

DUPLICATES_SCHEMA = {"filepath": pl.String, "copy_filepath": pl.String, "kind": pl.String, "distance": pl.Float64}
OVERLAP_SCHEMA = {"test_filepath": pl.String, "train_filepath": pl.String, "kind": pl.String, "distance": pl.Float64}


def pixel_twins(train: FaceSet, test: FaceSet) -> dict[int, tuple[str, str]]:
    """Test index -> (train file, kind) for faces whose decoded pixels equal a train face's, or its mirror's."""
    by_pixels = {face.tobytes(): f for face, f in zip(train.pixels.numpy(), train.files)}
    twins = {}
    for i, face in enumerate(test.pixels.numpy()):
        if (same := by_pixels.get(face.tobytes())) is not None:
            twins[i] = (same, "identical")
        elif (flipped := by_pixels.get(np.ascontiguousarray(face[:, ::-1]).tobytes())) is not None:
            twins[i] = (flipped, "mirrored")
    return twins


def near_twins(train: FaceSet, test: FaceSet, rest: list[int]) -> list[tuple[str, str, str, float]]:
    """Rows for the test faces ``rest`` confirmed as a near copy of a train face (or of its mirror)."""
    found = near_copies(test.pixels.numpy()[rest], train.pixels.numpy())
    return [(test.files[rest[i]], train.files[j], "near", round(1.0 - score, 6)) for i, j, score in found]


def find_overlap(train: FaceSet, test: FaceSet) -> pl.DataFrame:
    """One row per test image found in ``train``: the same pixels or mirrored first, else a near copy."""
    twins = pixel_twins(train, test)
    rows = [(test.files[i], found, kind, 0.0) for i, (found, kind) in twins.items()]
    rest = [i for i in range(len(test.files)) if i not in twins]
    if rest and len(train.files):
        rows += near_twins(train, test, rest)
    return pl.DataFrame(rows, schema=OVERLAP_SCHEMA, orient="row").sort("test_filepath")


def without_overlap(test: FaceSet, overlap: pl.DataFrame) -> FaceSet:
    """The test faces that are not in ``overlap`` (what ``accuracy_deduplicated`` is measured on)."""
    found = set(overlap["test_filepath"].to_list())
    return test.subset(torch.tensor([i for i, f in enumerate(test.files) if f not in found], dtype=torch.int64))


def train_duplicates(train: FaceSet) -> pl.DataFrame:
    """One row per train face that has a copy elsewhere in train/ (its best match; the same pixels, mirrored or
    near): such copies are kept on one side of the validation split (``faces.validation_split``)."""
    pixels, rows = train.pixels.numpy(), []
    for i, j, score in near_copies(pixels, pixels, itself=True):
        kind = pixel_kind(pixels[i], pixels[j])
        rows.append((train.files[i], train.files[j], kind, 0.0 if kind != "near" else round(1.0 - score, 6)))
    return pl.DataFrame(rows, schema=DUPLICATES_SCHEMA, orient="row").sort("filepath")


def pixel_kind(face: np.ndarray, copy: np.ndarray) -> str:
    """``identical`` (the same decoded pixels), ``mirrored`` (the same pixels flipped left-right) or ``near``."""
    if np.array_equal(face, copy):
        return "identical"
    return "mirrored" if np.array_equal(face[:, ::-1], copy) else "near"
