"""Copies of a face among faces: the same photo re-encoded, brightened, shifted, re-cropped a little or mirrored.

What ``split_overlap`` reports between test/ and train/ and inside train/, and what keeps a face's copies on
one side of the validation split (``faces.validation_split``). Candidates: each face and its mirror look up
their ``TOP_K`` nearest faces by a shift-invariant signature (the magnitudes of the low 2-D Fourier frequencies
of the face standardised to zero mean and unit variance, so brightness and contrast drop out); a candidate is
confirmed when the best correlation of the two standardised 48x48 faces over shifts of up to ``MAX_SHIFT``
pixels reaches ``NEAR_CORRELATION``.

The threshold was set on real pairs (FER2013's training faces, BENCHMARKS.md "Copies among real faces"): every
inspected pair at 0.90-0.93 was the same photo, at 0.85-0.90 nearly all, at 0.80-0.85 about a quarter were two
people; so 0.90. A 64-bit perceptual hash (DCT signs) as the candidate search found 170 of the 372 cross-split
copies this one finds, so the signature stays. The search is a chunked matrix product: memory is flat, time
grows as queries x pool (32k x 32k faces: seconds on 2 cores).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

NEAR_CORRELATION = 0.90
MAX_SHIFT = 2
TOP_K = 5  # candidates per face (and per mirror) that the correlation confirms or rejects
LOW_FREQUENCIES = 8
CHUNK = 1024
MAX_GROUP = 64  # a larger group of "copies" is a chain of look-alikes (copy_groups)
MAX_GROUP_SHARE = 0.002  # ... and so is one of more than this share of the faces (at least a pair)
REMEMBERED = 4  # copy_groups answers kept per process
_REMEMBERED_GROUPS: dict[str, np.ndarray] = {}


def standardised(pixels: np.ndarray) -> np.ndarray:
    """(N, 48, 48) uint8 faces as float32 with zero mean and unit variance each."""
    x = pixels.astype(np.float32)
    x -= x.mean(axis=(1, 2), keepdims=True)
    return x / (x.std(axis=(1, 2), keepdims=True) + 1e-6)


def signature(faces: np.ndarray) -> np.ndarray:
    """Unit vectors of the low Fourier magnitudes: a (circular) shift leaves them unchanged."""
    magnitudes = np.abs(np.fft.rfft2(faces))[:, :LOW_FREQUENCIES, :LOW_FREQUENCIES].reshape(len(faces), -1)
    return (magnitudes / (np.linalg.norm(magnitudes, axis=1, keepdims=True) + 1e-9)).astype(np.float32)


def best_correlations(face: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The highest correlation of a standardised face with each standardised candidate over shifts of up to
    ``MAX_SHIFT`` pixels: all shifts in one product."""
    steps = range(-MAX_SHIFT, MAX_SHIFT + 1)
    shifted = np.stack([np.roll(face, (dy, dx), axis=(0, 1)) for dy in steps for dx in steps])
    return (shifted.reshape(len(shifted), -1) @ candidates.reshape(len(candidates), -1).T).max(axis=0) / face.size


def nearest(queries: np.ndarray, pool: np.ndarray, offset: int | None) -> np.ndarray:
    """Indices of each query signature's ``TOP_K`` nearest pool signatures (cosine), in chunks to bound memory;
    ``offset`` (queries[i] is pool[offset + i]) keeps a face from finding itself."""
    k = min(TOP_K, len(pool) - (offset is not None))
    pool_t, found = torch.from_numpy(pool), []
    for start in range(0, len(queries), CHUNK):
        scores = torch.from_numpy(queries[start : start + CHUNK]) @ pool_t.T
        if offset is not None:
            rows = torch.arange(len(scores))
            scores[rows, offset + start + rows] = -torch.inf
        found.append(scores.topk(k, dim=1).indices.numpy())
    return np.concatenate(found) if found else np.zeros((0, k), dtype=np.int64)


def near_copies(
    queries: np.ndarray, pool: np.ndarray, itself: bool = False, threshold: float = NEAR_CORRELATION,
    every: bool = False,
) -> list[tuple[int, int, float]]:
    """(query index, pool index, correlation) for each query face (uint8) confirmed as a copy of a pool face or of
    its mirror (correlation at least ``threshold``), its best match only, or ``every`` confirmed candidate.
    ``itself``: the queries are the pool (copies inside one set)."""
    if not len(queries) or len(pool) < 1 + itself:
        return []
    query_faces, pool_faces = standardised(queries), standardised(pool)
    pool_sig = signature(pool_faces)
    offset = 0 if itself else None
    mirrored = query_faces[:, :, ::-1]
    candidates = [nearest(signature(faces), pool_sig, offset) for faces in (query_faces, mirrored)]
    rows = []
    for i in range(len(queries)):
        found = np.concatenate([candidates[0][i], candidates[1][i]])
        scores = np.concatenate([
            best_correlations(query_faces[i], pool_faces[candidates[0][i]]),
            best_correlations(mirrored[i], pool_faces[candidates[1][i]]),
        ])
        confirmed = np.flatnonzero(scores >= threshold) if every else [int(scores.argmax())]
        rows += [(i, int(found[k]), float(scores[k])) for k in confirmed if scores[k] >= threshold]
    return rows


def copy_groups(pixels: np.ndarray) -> np.ndarray:
    """A group number per face (uint8 (N, 48, 48)): faces joined by confirmed copies share one, as long as the
    group holds at most ``MAX_GROUP_SHARE`` of the faces (at least 2, at most ``MAX_GROUP``); a larger one is a
    chain of look-alikes (synthetic faces drawn from one template are), not copies of one photo, and its faces
    keep groups of their own. FER2013's training faces: 2,349 groups of 2-7 faces, none near the cap. The search
    is quadratic (minutes at FER2013's size), so the last few answers are remembered in the process by the pixels'
    digest: a training run and the promotion check that follows it split the same faces."""
    key = hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=16).hexdigest() + str(pixels.shape)
    if key not in _REMEMBERED_GROUPS:
        if len(_REMEMBERED_GROUPS) >= REMEMBERED:
            _REMEMBERED_GROUPS.pop(next(iter(_REMEMBERED_GROUPS)))
        _REMEMBERED_GROUPS[key] = joined_groups(pixels)
    return _REMEMBERED_GROUPS[key].copy()


def joined_groups(pixels: np.ndarray) -> np.ndarray:
    """``copy_groups`` computed: union-find over every confirmed copy, then the cap."""
    max_group = max(2, min(MAX_GROUP, int(len(pixels) * MAX_GROUP_SHARE)))
    parent = np.arange(len(pixels))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for i, j, _ in near_copies(pixels, pixels, itself=True, every=True):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups = np.array([root(i) for i in range(len(pixels))])
    sizes = np.bincount(groups, minlength=len(pixels))
    return np.where(sizes[groups] <= max_group, groups, np.arange(len(pixels)))
