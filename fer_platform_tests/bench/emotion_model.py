"""emotion_model benchmark: training throughput per architecture on a FER2013-sized set, then, on a platform
built by the demo, emotion_model vs emotion_classifier on the same test split, the top-5 same-emotion rate of
``space=expression`` vs ``space=seed``, and ``/predict`` latency with and without a promoted model.

    python -m fer_platform_tests.bench emotion_model [--train-images 28709] [--per-class 100] [--budget 3]
        [--requests 200]

No FER2013 copy and no ImageNet weights exist here: the images are the synthetic faces (far easier than real
ones) and the seed vectors come from untrained ResNet18 weights (FER_WEIGHTS=random), so the accuracy figures
only show that both models run end to end on the same split; real-data accuracy is measured elsewhere.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from fastapi.testclient import TestClient

from fer_platform.models.faces import FaceSet, load_split
from fer_platform.models.lifecycle.registry import EMOTION_CLASSIFIER, EMOTION_MODEL, model_registry
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import Trainer
from fer_platform.sample_data import FER2013_EMOTIONS, write_sample_dataset
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location

ARCH_SAMPLES = {"vgg_small": None, "vgg": 1024, "resnet18_imagenet": 128}  # None: a full epoch


def subset(faces: FaceSet, n: int | None) -> FaceSet:
    if n is None:
        return faces
    keep = torch.randperm(len(faces.labels), generator=torch.Generator().manual_seed(0))[:n]
    return FaceSet(faces.pixels[keep], faces.labels[keep], faces.classes, [], faces.digest, {})


def training_throughput(train_images: int, work: Path) -> None:
    """Images/s of one training epoch (augmentation + forward + backward) per architecture, on this CPU."""
    root = work / "big"
    write_sample_dataset(root, per_class=-(-train_images // 7), test_per_class=1)
    started = time.perf_counter()
    faces = load_split(root, "train")
    print(f"decoded {len(faces.files)} training faces in {time.perf_counter() - started:.1f} s")
    print(f"| architecture | images timed | images/s | one epoch of {len(faces.files):,} images |")
    print("|---|---:|---:|---:|")
    for arch, sample in ARCH_SAMPLES.items():
        part = subset(faces, sample)
        trainer = Trainer(part, Recipe(arch=arch, budget_s=1e9, weights="random"), torch.device("cpu"))
        started = time.perf_counter()
        seen, _, _ = trainer.epoch(float("inf"))
        rate = seen / (time.perf_counter() - started)
        print(f"| {arch} | {seen:,} | {rate:.0f} | {len(faces.files) * 0.9 / rate / 60:.1f} min |")


def platform(per_class: int, budget: float, work: Path) -> None:
    """The demo on ``per_class`` synthetic images per emotion, with a ``budget``-minute emotion_model."""
    from fer_platform.demo import run_demo

    os.environ |= {
        "FER_HOME": str(work / "home"),
        "FER_WEIGHTS": "random",
        "FER_TRAIN_BUDGET_MINUTES": str(budget),
        "FER_API_KEY": "bench-key",
        "DAGSTER_HOME": str(work / "dagster"),
    }
    (work / "dagster").mkdir()
    write_sample_dataset(work / "home" / "images", per_class=per_class, test_per_class=max(1, per_class // 4))
    run_demo(load_settings(), per_class, weights_explicit=True)


def same_emotion_rates(client: TestClient, root: Path) -> dict[str, float]:
    """Share of the top-5 neighbours of each test image that have its emotion, per search space."""
    auth = {"Authorization": "Bearer bench-key"}
    rates = {}
    for space in ("seed", "expression"):
        same = total = 0
        for emotion in FER2013_EMOTIONS:
            for path in sorted((root / "test" / emotion).iterdir()):
                files = {"file": (path.name, path.read_bytes(), "image/png")}
                results = client.post(f"/search?k=5&space={space}", files=files, headers=auth).json()["results"]
                same += sum(r["emotion"] == emotion for r in results)
                total += len(results)
        rates[space] = same / total
    return rates


def predict_latency(client: TestClient, image: bytes, requests: int) -> tuple[float, float]:
    auth = {"Authorization": "Bearer bench-key"}
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        assert client.post("/predict", files={"file": ("q.png", image, "image/png")}, headers=auth).status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def serving(requests: int) -> None:
    from fer_platform.service.app import create_app

    settings = load_settings()
    lake = open_location(settings.resolved_lake_url)
    registry, heads = model_registry(lake, EMOTION_MODEL), model_registry(lake, EMOTION_CLASSIFIER)
    model, classifier = registry.metrics(registry.latest()), heads.metrics(heads.latest())
    print("\n| model (same synthetic test split) | accuracy | macro-F1 |\n|---|---:|---:|")
    print(
        f"| emotion_model ({model['recipe']['arch']}, {model['epochs']} epochs, {model['stopped_by']}) "
        f"| {model['accuracy']:.1%} | {model['macro_f1']:.3f} |"
    )
    print(
        f"| emotion_classifier (MLP on untrained-ResNet seed vectors) | {classifier['accuracy']:.1%} "
        f"| {classifier['macro_f1']:.3f} |"
    )
    root = settings.resolved_image_root
    image = (root / "test" / "happy" / "im0.png").read_bytes()
    with TestClient(create_app(settings)) as client:
        rates = same_emotion_rates(client, root)
        print(f"\ntop-5 same-emotion rate: space=seed {rates['seed']:.1%}, space=expression {rates['expression']:.1%}")
        with_model = predict_latency(client, image, requests)
    pointer = Path(settings.resolved_lake_url) / "models" / "emotion_model" / "promoted.json"
    pointer.rename(pointer.with_suffix(".off"))
    with TestClient(create_app(settings)) as client:
        without = predict_latency(client, image, requests)
    print(
        f"\n/predict over {requests} sequential requests: with emotion_model p50 {with_model[0]:.1f} ms, "
        f"p99 {with_model[1]:.1f} ms; without (today) p50 {without[0]:.1f} ms, p99 {without[1]:.1f} ms"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench emotion_model")
    parser.add_argument("--train-images", type=int, default=28709)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--budget", type=float, default=3.0, help="emotion_model training minutes")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CUDA: {torch.cuda.is_available()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.train_images:
            training_throughput(args.train_images, work)
        platform(args.per_class, args.budget, work)
        serving(args.requests)
