"""The models stage on a Ray cluster: emotion_model trained in a Ray task (one GPU when the cluster has one), and
expression vectors computed by a pool of actors holding the served model. The Dagster step only drives: it logs
progress, registers the result and writes the rows; the code location never needs a GPU.

A worker reads the faces where they are (the image root on a path every node mounts). The training task checks
that it sees the same training images as the driver (their digest, which the model card cites) before it trains.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch

from fer_platform.embeddings.model import resolve_device
from fer_platform.images.reading import read_faces
from fer_platform.models.faces import load_split
from fer_platform.models.lifecycle.registry import EMOTION_MODEL
from fer_platform.models.model import EmotionModel
from fer_platform.models.training.checkpoints import Checkpoints
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import Trained, train_model
from fer_platform.ray_cluster.pipelines import Pool, RayStallError, actor_pipeline, on_head
from fer_platform.storage.location import open_location

POLL_S = 1.0
TRAIN_RETRIES = 3  # a node lost mid-training: the task runs again from the last checkpoint


def remote_training(
    image_root: str, lake_url: str, recipe: Recipe, digest: str, device: str, progress
) -> tuple[bytes, dict]:
    """Ray task: load ``train/`` where this node sees it, train (checkpointing each epoch into the lake, with
    this node's credentials, and resuming a run's last checkpoint), return the best weights and the figures."""
    import ray

    faces = load_split(Path(image_root), "train")
    if faces.digest != digest:
        raise ValueError(
            f"the Ray worker sees other training images under {image_root} than the driver (digest "
            f"{faces.digest[:12]} vs {digest[:12]}): mount the same FER_IMAGE_ROOT on every node"
        )
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, int(cpus)))
    checkpoints = Checkpoints(open_location(lake_url), EMOTION_MODEL, digest, recipe)

    def report(epoch: int, accuracy: float) -> None:
        progress.put((epoch, accuracy))

    trained = train_model(faces, recipe, resolve_device(device), report, checkpoints)
    figures = {f.name: getattr(trained, f.name) for f in fields(Trained) if f.name != "model"}
    figures["device"] = str(trained.model.device)
    return trained.model.to_bytes(), figures


def train_on_ray(
    image_root: Path,
    lake_url: str,
    recipe: Recipe,
    digest: str,
    device: str,
    pool: Pool,
    on_epoch: Optional[Callable[[int, float], None]] = None,
    grace_s: float = 300.0,
) -> tuple[Trained, str]:
    """Train in a Ray task on the connected cluster; (the trained model on this process's CPU, the worker's
    device). A worker node lost mid-training costs the epoch in flight: Ray runs the task again (up to
    ``TRAIN_RETRIES`` times), which resumes from the last checkpoint in the lake; the progress channel lives on
    the head, so it outlives the node. Fails with ``RayStallError`` when the task outlives its start-up
    allowance, the budget and ``grace_s``."""
    import ray
    from ray.util.queue import Queue

    progress = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": on_head()})
    gpus = pool.gpus_per_actor
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=TRAIN_RETRIES)(remote_training)
    ref = task.remote(str(image_root), lake_url, recipe, digest, "cuda" if gpus else device, progress)
    deadline = time.monotonic() + pool.startup_s + recipe.budget_s + grace_s
    while not ray.wait([ref], timeout=POLL_S)[0]:
        drain(progress, on_epoch)
        if time.monotonic() > deadline:
            ray.cancel(ref, force=True)
            raise RayStallError(f"the training task on Ray outlived its budget by {grace_s:.0f} s: cancelled")
    drain(progress, on_epoch)
    data, figures = ray.get(ref)
    worker_device = figures.pop("device")
    return Trained(EmotionModel.from_bytes(data), **figures), worker_device


def drain(progress, on_epoch: Optional[Callable[[int, float], None]]) -> None:
    while not progress.empty():
        epoch, accuracy = progress.get_nowait()
        if on_epoch:
            on_epoch(epoch, accuracy)


class ExpressionActor:
    """Ray actor: the served emotion_model, loaded once from its bytes, on batches of faces."""

    def __init__(self, model_bytes: bytes, device: str):
        torch.set_num_threads(1)
        self.model = EmotionModel.from_bytes(model_bytes, resolve_device(device))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        todo = [k for k, state in enumerate(batch["state"]) if state == "ok"]
        features = np.zeros((len(batch["state"]), self.model.feature_dim), np.float32)
        if todo:
            _, computed = self.model.infer(torch.from_numpy(np.ascontiguousarray(batch["face"][todo])))
            features[todo] = computed
        return batch | {"features": features}


@dataclass(frozen=True)
class ExpressionOutcome:
    """Per file: its features (computed), its digest, or why it failed; unchanged files appear in neither."""

    features: dict[int, tuple[str, np.ndarray]]
    failures: dict[int, str]


def expressions_on_ray(
    paths: list[Path], stored: dict[str, str], model: EmotionModel, device: str, pool: Pool, batch_size: int = 256
) -> ExpressionOutcome:
    """Features of the files whose bytes changed since ``stored`` (path -> sha256 under the served version); each
    row carries its own stored digest, so no task receives the whole map."""
    features: dict[int, tuple[str, np.ndarray]] = {}
    failures: dict[int, str] = {}
    locations = [str(p) for p in paths]
    batches: Iterator[dict] = actor_pipeline(
        {
            "index": np.arange(len(paths)),
            "location": np.array(locations, dtype=object),
            "stored": np.array([stored.get(location, "") for location in locations], dtype=object),
        },
        read=read_faces,
        actor=ExpressionActor,
        actor_args=(model.to_bytes(), "cuda" if pool.gpus_per_actor else device),
        batch_size=batch_size,
        pool=pool,
        what="the Ray expression pipeline",
    )
    for batch in batches:
        for k, state in enumerate(batch["state"]):
            index = int(batch["index"][k])
            if state == "ok":
                features[index] = (str(batch["digest"][k]), batch["features"][k])
            elif state.startswith("error: "):
                failures[index] = state.removeprefix("error: ")
    return ExpressionOutcome(features, failures)
