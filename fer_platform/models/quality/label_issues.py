"""Train images whose label is probably wrong, by confident learning (Northcutt, Jiang & Chuang 2021, "Confident
Learning: Estimating Uncertainty in Dataset Labels", JAIR 70; the ``cleanlab`` library).

Every ``train/`` image gets out-of-sample predicted probabilities: the images are split into ``k`` stratified
folds and each fold is scored by an ``emotion_model`` network trained on the other folds only (the recipe of
``models.training.train``, a short budget per fold, so no image is scored by a model that saw its label).
``cleanlab.filter.find_label_issues`` then flags the images whose given label disagrees with what the others
teach, and ``cleanlab.rank.get_label_quality_scores`` ranks every image (lower = more likely wrong).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable

import numpy as np
import polars as pl
import torch
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores

from fer_platform.models.faces import FaceSet, NotEnoughImagesError
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import train_model

FOLDS = 5
MAX_EXCLUDED_SHARE = 0.2  # FER_EXCLUDE_LABEL_ISSUES leaves out at most this share of an emotion
ISSUES_SCHEMA = {
    "filepath": pl.String,
    "given_label": pl.String,
    "suggested_label": pl.String,
    "score": pl.Float64,
    "is_issue": pl.Boolean,
}


def stratified_folds(labels: torch.Tensor, k: int, seed: int, classes: list[str] | None = None) -> list[torch.Tensor]:
    """``k`` disjoint index sets covering every image, each class dealt round-robin after a seeded shuffle."""
    counts = torch.bincount(labels)
    if int(counts.min()) < k:
        names = classes or [str(i) for i in range(len(counts))]
        listed = ", ".join(f"{name}={int(n)}" for name, n in zip(names, counts))
        raise NotEnoughImagesError(
            f"label_issues needs at least {k} images per emotion (its {k} folds); counts: {listed}"
        )
    generator = torch.Generator().manual_seed(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        for n, index in enumerate(members[torch.randperm(len(members), generator=generator)].tolist()):
            folds[n % k].append(index)
    return [torch.tensor(sorted(fold)) for fold in folds]


def out_of_sample_probabilities(
    faces: FaceSet, recipe: Recipe, device: torch.device, k: int = FOLDS, on_fold: Callable[[int], None] | None = None
) -> np.ndarray:
    """(N, classes) probabilities, each row from the model of the fold that held that image out."""
    probabilities = np.zeros((len(faces.files), len(faces.classes)), dtype=np.float32)
    folds = stratified_folds(faces.labels, k, recipe.seed, faces.classes)
    faces.positions  # the copies searched once: every fold's subset keeps them for its own validation split
    for n, held_out in enumerate(folds):
        rest = torch.cat([fold for m, fold in enumerate(folds) if m != n])
        trained = train_model(faces.subset(rest), dataclasses.replace(recipe, seed=recipe.seed + n), device)
        probabilities[held_out.numpy()], _ = trained.model.infer(faces.pixels[held_out])
        if on_fold:
            on_fold(n + 1)
    return probabilities


def learning_warnings(faces: FaceSet, probabilities: np.ndarray) -> tuple[float, dict[str, float], list[str]]:
    """(out-of-sample accuracy, recall per emotion, warnings): a fold model near chance (below 1.5x the better of
    1/classes and always answering the commonest emotion) ranks labels by noise, and an emotion it almost never
    predicts right (recall below 1/classes) has all its images flagged; either says so, naming the figures."""
    labels, predicted = faces.labels.numpy(), probabilities.argmax(axis=1)
    accuracy = float((predicted == labels).mean())
    recall = {
        name: round(float((predicted[labels == i] == i).mean()), 4)
        for i, name in enumerate(faces.classes) if (labels == i).any()
    }
    chance = max(1 / len(faces.classes), float(np.bincount(labels).max() / len(labels)))
    warnings = []
    if accuracy < 1.5 * chance:
        warnings.append(f"the fold models barely learned (out-of-sample accuracy {accuracy:.1%}, chance {chance:.1%})"
                        f": give them more time (FER_TRAIN_BUDGET_MINUTES; each fold gets a fifth)")
    if weak := {name: r for name, r in recall.items() if r < 1 / len(faces.classes)}:
        warnings.append(f"the fold models rarely recognise {weak} (recall below chance): their flags there say "
                        f"little about the labels")
    return accuracy, recall, warnings


def rank_label_issues(faces: FaceSet, probabilities: np.ndarray) -> pl.DataFrame:
    """One row per train image: its given and suggested label, its quality score and whether it is an issue,
    most suspect first."""
    labels = faces.labels.numpy()
    flagged = np.zeros(len(labels), dtype=bool)
    # n_jobs=1: cleanlab otherwise forks a multiprocessing pool, and a fork from a process that already runs
    # threads (Dagster's, fsspec's event loop) can deadlock in the child; the ranking is cheap next to training.
    flagged[find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)] = True
    frame = pl.DataFrame(
        {
            "filepath": faces.files,
            "given_label": [faces.classes[i] for i in labels],
            "suggested_label": [faces.classes[i] for i in probabilities.argmax(axis=1)],
            "score": get_label_quality_scores(labels, probabilities).astype(np.float64),
            "is_issue": flagged,
        },
        schema=ISSUES_SCHEMA,
    )
    return frame.sort(["is_issue", "score"], descending=[True, False])


def without_issues(faces: FaceSet, ranked: pl.DataFrame, cap: float = MAX_EXCLUDED_SHARE) -> FaceSet:
    """``faces`` without the images ``ranked`` (a label_issues table) flags, at most ``cap`` of each emotion's
    images (the likeliest wrong first: the lowest scores), so an exclusion never empties a rare emotion."""
    label_of = dict(zip(faces.files, faces.labels.tolist()))
    allowed = {label: int(n * cap) for label, n in Counter(faces.labels.tolist()).items()}
    dropped: set[str] = set()
    for path in ranked.filter(pl.col("is_issue")).sort("score")["filepath"].to_list():
        label = label_of.get(path)
        if label is not None and allowed[label] > 0:
            allowed[label] -= 1
            dropped.add(path)
    return faces.subset(torch.tensor([i for i, f in enumerate(faces.files) if f not in dropped], dtype=torch.int64))
