"""emotion_model on the real FER2013 training faces (issue 34): recipe variants side by side, same data, same
budget, same machine, one after the other in one run.

    python -m fer_platform_tests.bench real_faces [--minutes 12] [--variants paper,bf16,tuned] [--threads 2]
        [--tarball ../shared/data/fer2013_train.tar.gz]

The official test faces are held back: the score reported here is on a **held-out slice** of the training
tarball, a stratified 10 % chosen by each face's pixels (``faces.validation_split``'s positions 0.1-0.2: a face's copies
and mirror on one side), never seen by training nor by its validation slice (the trainer's positions below 0.1).
Each variant prints its learning curve (per epoch: train loss, centre-crop validation accuracy, learning rate),
then the held-out slice is scored with ten crops, as a registered version is.
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from fer_platform.models.evaluation import evaluate_probabilities
from fer_platform.models.faces import FaceSet, load_split, validation_split
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import train_model

TARBALL = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013_train.tar.gz"
HELD_OUT = 0.1
PAPER = {"label_smoothing": 0.0, "ema_decay": 0.0, "class_weight_power": 1.0, "augment_strength": 1.0}
VARIANTS = {  # what each changes from the Recipe's defaults (the tuned recipe, its augmentation fitted to its length)
    "paper": {**PAPER, "precision": "fp32"},
    "bf16": PAPER,
    "tuned": {},
    "full_aug": {"augment_strength": 1.0},  # the tuned recipe with the paper's augmentation
    "half_aug": {"augment_strength": 0.5},
}


def real_faces(tarball: Path, work: Path) -> FaceSet:
    """The tarball's ``train/<emotion>/*`` decoded (extracted once into ``work``)."""
    started = time.perf_counter()
    with tarfile.open(tarball) as tar:
        tar.extractall(work, filter="data")
    faces = load_split(work, "train")
    seconds = time.perf_counter() - started
    print(f"decoded {len(faces.files):,} real training faces in {seconds:.0f} s: {faces.counts()}")
    return faces


def held_out(faces: FaceSet) -> tuple[FaceSet, FaceSet]:
    """(training faces, held-out faces): held out are the faces whose split position lies in [0.1, 0.2), so the
    trainer's own validation slice (positions below 0.1) stays among the training faces and neither overlaps
    the held-out one; copies of a face share its position (``faces.validation_split``), so none straddles."""
    inner = set(validation_split(faces, HELD_OUT)[1].tolist())
    held = [i for i in validation_split(faces, 2 * HELD_OUT)[1].tolist() if i not in inner]
    kept = sorted(set(range(len(faces.files))) - set(held))
    return faces.subset(torch.tensor(kept)), faces.subset(torch.tensor(held))


def run_variant(name: str, train: FaceSet, held: FaceSet, minutes: float) -> dict:
    """Train one variant for ``minutes`` and score it on the held-out slice with ten crops."""
    recipe = replace(Recipe(arch="vgg_small", budget_s=minutes * 60), **VARIANTS[name])
    trained = train_model(train, recipe, torch.device("cpu"))
    print(f"\n{name}: {trained.epochs} epochs ({trained.stopped_by}), {trained.images_per_s:.0f} images/s, best epoch "
          f"{trained.best_epoch}, schedule {trained.schedule}, augmentation strength {trained.augment_strength:.2f}")
    print("| epoch | train loss | validation accuracy (centre crop) | learning rate |\n|---:|---:|---:|---:|")
    for row in trained.curve:
        print(f"| {row['epoch']} | {row['train_loss']:.3f} | {row['validation_accuracy']:.1%} | "
              f"{row['learning_rate']:.4f} |")
    probabilities, _ = trained.model.infer(held.pixels, views=10)
    labels = [held.classes[i] for i in held.labels.tolist()]
    scored = evaluate_probabilities(held.classes, labels, probabilities)
    return {"variant": name, "epochs": trained.epochs, "images_per_s": trained.images_per_s,
            "accuracy": scored.accuracy, "macro_f1": scored.macro_f1, "recall": scored.recall}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench real_faces")
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget of each variant")
    parser.add_argument("--variants", default="paper,bf16,tuned")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tarball", type=Path, default=TARBALL)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        faces = real_faces(args.tarball, Path(work))
    train, held = held_out(faces)
    print(f"training on {len(train.files):,} faces, held out {len(held.files):,}; {args.minutes} min per variant, "
          f"{args.threads} threads")
    results = [run_variant(name, train, held, args.minutes) for name in args.variants.split(",")]
    classes = list(results[0]["recall"])
    print("\n| variant | epochs | images/s | held-out accuracy (10 crops) | macro-F1 | " +
          " | ".join(f"recall {c}" for c in classes) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(classes))
    for r in results:
        print(f"| {r['variant']} | {r['epochs']} | {r['images_per_s']:.0f} | {r['accuracy']:.1%} | "
              f"{r['macro_f1']:.3f} | " + " | ".join(f"{r['recall'][c]:.2f}" for c in classes) + " |")
    base = results[0]
    for r in results[1:]:
        print(f"{r['variant']} vs {base['variant']}: accuracy {r['accuracy'] - base['accuracy']:+.1%}, "
              f"images/s x{r['images_per_s'] / base['images_per_s']:.2f}")
