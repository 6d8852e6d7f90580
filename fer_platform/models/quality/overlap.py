"""Test images that are also in ``train/``: byte-identical, or the same face re-encoded, brightened or shifted.

Such copies inflate every test score (FER2013's public splits hold some). Identical: the same content sha256.
Near: each test face's nearest train face by a shift-invariant signature (the magnitudes of the low 2-D
Fourier frequencies of the face standardised to zero mean and unit variance, so brightness and contrast drop
out), confirmed when the best correlation of the two standardised 48x48 faces over shifts of up to
``MAX_SHIFT`` pixels reaches ``NEAR_CORRELATION``. ``distance`` is 1 - that correlation (0 for identical).

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
    """Index of each test signature's nearest train signature (cosine), in chunks to bound memory."""
    return np.concatenate(
        [(test_sig[i : i + chunk] @ train_sig.T).argmax(axis=1) for i in range(0, len(test_sig), chunk)]
    )


def find_overlap(train: FaceSet, test: FaceSet) -> pl.DataFrame:
    """One row per test image found in ``train``: identical bytes first, else a near copy."""
    rows: list[tuple[str, str, str, float]] = []
    by_digest = dict(zip(train.sha256, train.files))
    rest = [i for i, digest in enumerate(test.sha256) if digest not in by_digest]
    rows += [(f, by_digest[d], "identical", 0.0) for f, d in zip(test.files, test.sha256) if d in by_digest]
    if rest and len(train.files):
        train_faces, test_faces = standardised(train.pixels.numpy()), standardised(test.pixels.numpy()[rest])
        nearest = nearest_train(signature(test_faces), signature(train_faces))
        for k, i in enumerate(rest):
            correlation = best_correlation(test_faces[k], train_faces[nearest[k]])
            if correlation >= NEAR_CORRELATION:
                rows.append((test.files[i], train.files[nearest[k]], "near", round(1.0 - correlation, 6)))
    return pl.DataFrame(rows, schema=OVERLAP_SCHEMA, orient="row").sort("test_filepath")


def without_overlap(test: FaceSet, overlap: pl.DataFrame) -> FaceSet:
    """The test faces that are not in ``overlap`` (what ``accuracy_deduplicated`` is measured on)."""
    found = set(overlap["test_filepath"].to_list())
    return test.subset(torch.tensor([i for i, f in enumerate(test.files) if f not in found], dtype=torch.int64))
