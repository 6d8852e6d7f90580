"""Training schedules, resume and the data-quality assets (issue 22), side by side in one run.

    python -m fer_platform_tests.bench quality [--budgets 5 15 30] [--per-class 300] [--flip 0.05]

On ``FER_IMAGE_ROOT`` when it is set (any FER-layout folder), else on a synthetic set of ``--per-class``
faces per emotion (far easier than real faces: the accuracies say little). Prints: test accuracy and
macro-F1 of ``plateau`` vs ``one_cycle`` at each budget (minutes); a run SIGKILLed at half its budget and
resumed vs an uninterrupted one (accuracy, total seconds); ``label_issues`` recall of labels flipped on
purpose among as many top suspects vs chance; ``split_overlap`` recall of planted copies per kind and how many
distinct test images it flags.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

from fer_platform.models.faces import load_split
from fer_platform.models.lifecycle.promotion import evaluate_model
from fer_platform.models.quality.label_issues import out_of_sample_probabilities, rank_label_issues, without_issues
from fer_platform.models.quality.overlap import find_overlap
from fer_platform.models.training.checkpoints import Checkpoints
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import train_model
from fer_platform.sample_data import write_sample_dataset
from fer_platform.storage.location import open_location

CPU = torch.device("cpu")
RESUMED = """
import sys, torch
from pathlib import Path
from fer_platform.models.training.checkpoints import Checkpoints
from fer_platform.models.faces import load_split
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import train_model
from fer_platform.storage.location import open_location
faces = load_split(Path(sys.argv[1]), "train")
recipe = Recipe(arch="vgg_small", budget_s=float(sys.argv[3]))
checkpoints = Checkpoints(open_location(sys.argv[2]), "m", faces.digest, recipe)
train_model(faces, recipe, torch.device("cpu"), checkpoints=checkpoints)
"""


def schedules(root: Path, budgets: list[float]) -> None:
    train = load_split(root, "train")
    test = load_split(root, "test", train.classes)
    print("| budget (min) | schedule | epochs | test accuracy | macro-F1 |\n|---:|---|---:|---:|---:|")
    for minutes in budgets:
        for schedule in ("plateau", "one_cycle"):
            trained = train_model(train, Recipe(arch="vgg_small", budget_s=minutes * 60, schedule=schedule), CPU)
            scored = evaluate_model(trained.model, test)
            print(f"| {minutes:g} | {schedule} | {trained.epochs} | {scored.accuracy:.1%} | {scored.macro_f1:.3f} |")


def resume(root: Path, minutes: float, work: Path) -> None:
    train = load_split(root, "train")
    test = load_split(root, "test", train.classes)
    recipe, lake = Recipe(arch="vgg_small", budget_s=minutes * 60), work / "lake"
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", RESUMED, str(root), str(lake), str(recipe.budget_s)])
    time.sleep(recipe.budget_s / 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    checkpoints = Checkpoints(open_location(str(lake)), "m", train.digest, recipe)
    resumed = train_model(train, recipe, CPU, checkpoints=checkpoints)
    resumed_s = time.monotonic() - started
    started = time.monotonic()
    whole = train_model(train, recipe, CPU)
    whole_s = time.monotonic() - started
    print(f"\n| {minutes:g}-min budget | epochs | test accuracy | wall seconds |\n|---|---:|---:|---:|")
    for name, trained, seconds in (("killed at half, resumed", resumed, resumed_s), ("uninterrupted", whole, whole_s)):
        print(f"| {name} | {trained.epochs} | {evaluate_model(trained.model, test).accuracy:.1%} | {seconds:.0f} |")


def label_issue_recall(root: Path, flip: float, fold_s: float, minutes: float, work: Path) -> None:
    flipped_root = work / "flipped"
    shutil.copytree(root / "train", flipped_root / "train")
    emotions = sorted(p.name for p in (flipped_root / "train").iterdir())
    source, target = flipped_root / "train" / emotions[0], flipped_root / "train" / emotions[1]
    moved = sorted(source.iterdir())[: max(1, int(len(list(source.iterdir())) * flip))]
    for path in moved:
        shutil.move(path, target / f"flipped_{path.name}")
    faces = load_split(flipped_root, "train")
    probabilities = out_of_sample_probabilities(faces, Recipe(arch="vgg_small", budget_s=fold_s), CPU)
    ranked = rank_label_issues(faces, probabilities)
    learned = float((probabilities.argmax(axis=1) == faces.labels.numpy()).mean())
    top = set(ranked.head(len(moved))["filepath"].to_list())
    found = sum(f"train/{emotions[1]}/flipped_{p.name}" in top for p in moved)
    print(
        f"\nlabel_issues: {len(moved)} labels flipped ({emotions[0]} -> {emotions[1]}) among {len(faces.files)}; "
        f"recall among the top {len(moved)} suspects {found / len(moved):.0%} "
        f"(chance {len(moved) / len(faces.files):.1%}); "
        f"flagged in all: {int(ranked['is_issue'].sum())}; {fold_s:g} s per fold, out-of-sample accuracy {learned:.1%}"
    )
    test = load_split(root, "test", faces.classes)
    recipe = Recipe(arch="vgg_small", budget_s=minutes * 60)
    for name, train in (("all flipped-set images", faces), ("without the flagged (FER_EXCLUDE_LABEL_ISSUES)",
                                                            without_issues(faces, ranked))):
        accuracy = evaluate_model(train_model(train, recipe, CPU).model, test).accuracy
        print(f"  emotion_model trained on {name} ({len(train.files)}): test accuracy {accuracy:.1%}")


def planted(image: np.ndarray, kind: str) -> bytes:
    buffer, picture = io.BytesIO(), Image.fromarray(image)
    if kind == "jpeg":
        picture.save(buffer, "JPEG", quality=60)
    elif kind == "bright":
        ImageEnhance.Brightness(picture).enhance(1.15).save(buffer, "PNG")
    else:
        Image.fromarray(np.roll(image, (2, -1), axis=(0, 1))).save(buffer, "PNG")
    return buffer.getvalue()


def overlap_recall(root: Path, per_kind: int, work: Path) -> None:
    planted_root = work / "planted"
    shutil.copytree(root, planted_root)
    train = load_split(planted_root, "train")
    distinct = len(load_split(planted_root, "test", train.classes).files)
    kinds = {"identical": [], "jpeg": [], "bright": [], "shift": []}
    for n, kind in enumerate(kinds):
        for i in range(n * per_kind, (n + 1) * per_kind):
            emotion, name = train.files[i].split("/")[1:]
            target = planted_root / "test" / emotion / f"{kind}_{name}"
            original = planted_root / train.files[i]
            target.write_bytes(original.read_bytes() if kind == "identical" else planted(train.pixels[i].numpy(), kind))
            kinds[kind].append(target.relative_to(planted_root).as_posix())
    found = set(find_overlap(train, load_split(planted_root, "test", train.classes))["test_filepath"].to_list())
    planted_all = {p for paths in kinds.values() for p in paths}
    recall = ", ".join(f"{k} {sum(p in found for p in v) / len(v):.0%}" for k, v in kinds.items())
    print(f"\nsplit_overlap recall on {per_kind} planted copies per kind: {recall}; "
          f"distinct test images flagged: {len(found - planted_all)} of {distinct}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench quality")
    parser.add_argument("--budgets", type=float, nargs="*", default=[5, 15, 30], help="minutes")
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--planted", type=int, default=20)
    parser.add_argument("--fold-seconds", type=float, default=60, help="label_issues: training budget per fold")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fer-bench-quality-") as tmp:
        work = Path(tmp)
        root = Path(os.environ["FER_IMAGE_ROOT"]) if os.environ.get("FER_IMAGE_ROOT") else work / "faces"
        if not os.environ.get("FER_IMAGE_ROOT"):
            write_sample_dataset(root, per_class=args.per_class, test_per_class=max(2, args.per_class // 5))
        print(f"data: {root}")
        schedules(root, args.budgets)
        resume(root, min(args.budgets), work)
        label_issue_recall(root, args.flip, args.fold_seconds, min(args.budgets), work)
        overlap_recall(root, args.planted, work)
