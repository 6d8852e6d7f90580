"""FER faces as a training set: every image of a split as one uint8 tensor (N, 48, 48), with its labels.

28,709 FER2013 faces take 66 MB this way, so a whole split is decoded once and
kept in memory; every epoch then augments from it without touching the disk.
Images of another size are converted to grayscale and resized to 48x48, so any
FER-layout folder (other label sets, other sizes) trains the same way.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from fer_platform.images.decode import ImageDecodeError, decode_image
from fer_platform.images.face import FER_SIZE, face_pixels
from fer_platform.images.folders import discover_emotions
from fer_platform.images.manifest import list_emotion_files
from fer_platform.models.copies import copy_groups

MIN_IMAGES_PER_CLASS = 20


class NotEnoughImagesError(ValueError):
    """Too few images (or classes) to train on; the message gives the counts."""


@dataclass(frozen=True)
class FaceSet:
    """Faces of one split: pixels, label indices into ``classes``, the files, and a digest of their bytes."""

    pixels: torch.Tensor  # uint8 (N, 48, 48)
    labels: torch.Tensor  # int64 (N,)
    classes: list[str]
    files: list[str]  # relative to the image root
    digest: str  # sha256 over (path, content sha256) of every file: what the model card cites
    failures: dict[str, str]
    sha256: tuple[str, ...] = ()  # each file's content sha256, in ``files`` order

    def subset(self, keep: torch.Tensor) -> FaceSet:
        """The faces at the indices ``keep``, same classes, with the digest of exactly those files; once this set's
        ``positions`` are known, the subset keeps its faces' (the copies are not searched again)."""
        picked = keep.tolist()
        files, hashes = [self.files[i] for i in picked], tuple(self.sha256[i] for i in picked) if self.sha256 else ()
        subset = FaceSet(
            self.pixels[keep], self.labels[keep], self.classes, files, files_digest(files, hashes) if hashes
            else self.digest, self.failures, hashes,
        )
        if "positions" in self.__dict__:
            subset.__dict__["positions"] = self.positions[picked]
        return subset

    @cached_property
    def positions(self) -> np.ndarray:
        """Each face's split position (``validation_split``): the lowest ``content_position`` of its copy group
        (``copies.copy_groups``), so a face's copies share it. Computed once per set (the copy search is
        quadratic: minutes at FER2013's size) and carried into subsets, where a group keeps the position it has
        here: a benchmark's held-out slice, the trainer's split and ``label_issues``' folds search once."""
        pixels = self.pixels.numpy()
        own = np.array([content_position(face) for face in pixels])
        groups = copy_groups(pixels)
        lowest = np.full(len(own), np.inf)
        np.minimum.at(lowest, groups, own)
        return lowest[groups]

    def counts(self) -> dict[str, int]:
        found = Counter(self.labels.tolist())
        return {c: found.get(i, 0) for i, c in enumerate(self.classes)}


def content_position(face: np.ndarray) -> float:
    """Where a face falls in [0, 1) by its pixels, the same for the face and its mirror: what decides its side of
    the validation split, so a face saved again, renamed, moved or mirrored never lands on both sides."""
    canonical = min(face.tobytes(), np.ascontiguousarray(face[:, ::-1]).tobytes())
    return int.from_bytes(hashlib.blake2b(canonical, digest_size=8).digest(), "big") / 2.0**64


def validation_split(faces: FaceSet, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices): in every class the faces whose ``content_position`` is below
    ``fraction`` (at least one, and one left to train on). The same faces every run and every version, whatever
    the seed, so the promotion check scores a candidate and the champion on the faces neither trained on. A face's
    copies in train/ (``copies.copy_groups``: re-encoded, shifted, mirrored; 5,511 of FER2013's 32,197 training
    faces are in such groups) take their group's lowest position (``FaceSet.positions``), so a group lands on one
    side."""
    positions = torch.from_numpy(faces.positions)
    train, validation = [], []
    for label in faces.labels.unique():
        members = (faces.labels == label).nonzero().flatten()
        members = members[positions[members].argsort()]
        ordered = positions[members]
        cut = min(max(1, int((ordered < fraction).sum())), max(1, len(members) - 1))
        while cut < len(members) and ordered[cut] == ordered[cut - 1]:  # copies of a face stay together
            cut += 1
        validation.append(members[:cut])
        train.append(members[cut:])
    return torch.cat(train).sort().values, torch.cat(validation).sort().values


def files_digest(files: list[str], hashes: tuple[str, ...] | list[str]) -> str:
    """sha256 over (path, content sha256) of every file, in order: what names a training set."""
    digest = hashlib.sha256()
    for relative, content in zip(files, hashes):
        digest.update(f"{relative}\0{content}\n".encode())
    return digest.hexdigest()


def load_split(image_root: Path, split: str, classes: list[str] | None = None) -> FaceSet:
    """Decode ``<image_root>/<split>/<emotion>/*``; ``classes`` fixes the label order (the model's), else the
    folders found. Undecodable files are listed in ``failures`` and left out."""
    folders = discover_emotions(image_root, split)
    classes = list(classes) if classes is not None else folders
    pixels, labels, files, failures, hashes = [], [], [], {}, []
    for emotion in folders:
        if emotion not in classes:
            continue
        for path in list_emotion_files(image_root, split, emotion):
            relative = path.relative_to(image_root).as_posix()
            data = path.read_bytes()
            try:
                pixels.append(face_pixels(decode_image(data)))
            except ImageDecodeError as exc:
                failures[relative] = str(exc)
                continue
            labels.append(classes.index(emotion))
            files.append(relative)
            hashes.append(hashlib.sha256(data).hexdigest())
    stacked = np.stack(pixels) if pixels else np.zeros((0, FER_SIZE, FER_SIZE), dtype=np.uint8)
    return FaceSet(
        torch.from_numpy(stacked), torch.tensor(labels, dtype=torch.int64), classes, files,
        files_digest(files, hashes), failures, tuple(hashes),
    )


def require_trainable(faces: FaceSet, root: Path, minimum: int = MIN_IMAGES_PER_CLASS) -> None:
    """Refuse to train on a single class or on classes with fewer than ``minimum`` images, naming the counts."""
    check_counts(faces.counts(), root, minimum)


def check_counts(counts: dict[str, int], root: Path, minimum: int = MIN_IMAGES_PER_CLASS) -> None:
    """``NotEnoughImagesError`` unless there are two emotions or more with ``minimum`` images each."""
    listed = ", ".join(f"{c}={n}" for c, n in counts.items()) or "no emotion folders"
    if len(counts) < 2:
        raise NotEnoughImagesError(f"training needs at least two emotions under {root}; found {listed}")
    short = [c for c, n in counts.items() if n < minimum]
    if short:
        raise NotEnoughImagesError(
            f"too few images to train under {root}: {', '.join(short)} below {minimum} per emotion ({listed})"
        )
