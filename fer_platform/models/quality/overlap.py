"""Test images that are also in ``train/``: the same pixels (whatever the file's bytes), a mirrored copy, or the
same face re-encoded, brightened or shifted (mirrored too).

Such copies inflate every test score (FER2013's public splits hold some). Identical: the same decoded 48x48
pixels (a face saved again at another PNG compression is new bytes, not a new face); mirrored: the same pixels
flipped left-right (a common augmentation). Near: each test face and its mirror look up their ``TOP_K``
nearest train faces by a shift-invariant signature (the magnitudes of the low 2-D Fourier frequencies of the
face standardised to zero mean and unit variance, so brightness and contrast drop out); a candidate is
confirmed when the best correlation of the two standardised 48x48 faces over shifts of up to ``MAX_SHIFT``
pixels reaches ``NEAR_CORRELATION``. ``distance`` is 1 - that correlation (0 for identical and mirrored).

The threshold was measured on re-encodings of the synthetic faces: JPEG quality 60 keeps a correlation of at
least 0.973, brightness x1.15 and shifts of up to 2 pixels at least 0.99 (``bench quality`` measures
it on any FER-layout folder). The synthetic generator draws every face of an emotion from one template, so two
*different* synthetic faces also reach 0.97-0.99: on the sample data ``near`` over-reports; real faces differ.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from fer_platform.models.faces import FaceSet

NEAR_CORRELATION = 0.95
MAX_SHIFT = 2
TOP_K = 5  # candidates per test face (and per mirror) that the correlation confirms or rejects
LOW_FREQUENCIES = 8
OVERLAP_SCHEMA = {"test_filepath": pl.String, "train_filepath": pl.String, "kind": pl.String, "distance": pl.Float64}


def standardised(pixels: np.ndarray) -> np.ndarray:
    """(N, 48, 48) uint8 faces as float32 with zero mean and unit variance each."""
    x = pixels.astype(np.float32)
    x -= x.mean(axis=(1, 2), keepdims=True)
    return x / (x.std(axis=(1, 2), keepdims=True) + 1e-6)


def signature(faces: np.ndarray) -> np.ndarray:
    """Unit vectors of the low Fourier magnitudes: a (circular) shift leaves them unchanged."""
    magnitudes = np.abs(np.fft.rfft2(faces))[:, :LOW_FREQUENCIES, :LOW_FREQUENCIES].reshape(len(faces), -1)
    return magnitudes / (np.linalg.norm(magnitudes, axis=1, keepdims=True) + 1e-9)


def best_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """The highest correlation of two standardised faces over shifts of up to ``MAX_SHIFT`` pixels."""
    shifts = range(-MAX_SHIFT, MAX_SHIFT + 1)
    return max(float((np.roll(a, (dy, dx), axis=(0, 1)) * b).mean()) for dy in shifts for dx in shifts)


def nearest_train(test_sig: np.ndarray, train_sig: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Indices of each test signature's ``TOP_K`` nearest train signatures (cosine), in chunks to bound memory."""
    k = min(TOP_K, len(train_sig))
    return np.concatenate(
        [np.argsort(-(test_sig[i : i + chunk] @ train_sig.T), axis=1)[:, :k] for i in range(0, len(test_sig), chunk)]
    )


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
    train_faces = standardised(train.pixels.numpy())
    test_faces = standardised(test.pixels.numpy()[rest])
    train_sig = signature(train_faces)
    rows = []
    candidates = [nearest_train(signature(faces), train_sig) for faces in (test_faces, test_faces[:, :, ::-1])]
    for k, i in enumerate(rest):
        scored = [
            (best_correlation(face, train_faces[j]), j)
            for face, found in ((test_faces[k], candidates[0][k]), (test_faces[k][:, ::-1], candidates[1][k]))
            for j in found
        ]
        correlation, j = max(scored)
        if correlation >= NEAR_CORRELATION:
            rows.append((test.files[i], train.files[j], "near", round(1.0 - correlation, 6)))
    return rows


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
