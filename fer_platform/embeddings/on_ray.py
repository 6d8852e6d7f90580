"""The seed's embedding as a Ray Data pipeline: read and decode as Ray tasks where the images are, ResNet18 in a
pool of actors (``map_batches`` with an ``ActorPoolStrategy``), results streamed back to the driver.

The shape of Ray's batch-inference examples: tasks read each file where it is (a
path every node sees, or an fsspec URL such as the Azure source container, with
the workers' own credentials) and decode it to 8-bit grayscale, which is exactly
what the seed transform's ``Grayscale(3)`` makes of it; each actor loads the
model once and runs the same transform and forward pass as this process, so
the vectors are the in-process ones. Actors take a fraction of a CPU (and one
GPU when the cluster has GPUs), which leaves slots for the read tasks (a pool
holding every CPU starves them: ray-project/ray #44687). A dead node's batches
are retried on another by Ray; a pipeline that stops making progress fails
after ``stall_s`` (``ray_cluster.actor_pipeline``). The driver commits what
arrives to the vector store as it arrives (``cached.embed_through_store``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from fer_platform.embeddings.embedder import EmbeddingResult, forward
from fer_platform.embeddings.model import SEED_TRANSFORM, load_model
from fer_platform.images.reading import read_gray
from fer_platform.ray_cluster import actor_pipeline
from fer_platform.table.schema import EMBEDDING_DIM


class EmbedActor:
    """Ray actor: the seed's ResNet18, loaded once, on the batches of decoded faces it is sent."""

    def __init__(self, weights: str, device: str, precision: str, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.model = load_model(weights, device, precision)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch
        from PIL import Image

        good = [k for k, error in enumerate(batch["error"]) if not error]
        vectors = np.zeros((len(batch["error"]), EMBEDDING_DIM), np.float32)
        if good:
            faces = [Image.frombytes("L", tuple(batch["size"][k]), batch["pixels"][k]) for k in good]
            tensors = torch.stack([SEED_TRANSFORM(face) for face in faces])
            vectors[good] = forward(self.model, tensors)
        model_ids = np.array([self.model.model_id] * len(vectors))
        return {"index": batch["index"], "vector": vectors, "error": batch["error"], "model_id": model_ids}


@dataclass(frozen=True)
class RayEmbedder:
    """Embeds on the connected Ray cluster; ``model_id`` is the driver's, and every batch must match it."""

    model_id: str
    weights: str
    device: str
    precision: str
    batch_size: int
    actors: tuple[int, int]  # (min, max) actors in the pool
    stall_s: float
    gpus_per_actor: float = 0.0
    engine: str = "ray"

    def stream(self, paths: Sequence[Path | str]) -> Iterator[EmbeddingResult]:
        """Results in the order batches finish, indexed into ``paths``."""
        if not paths:
            return
        batches = actor_pipeline(
            [{"index": i, "location": str(p)} for i, p in enumerate(paths)],
            read=read_gray,
            actor=EmbedActor,
            actor_args=(self.weights, self.device, self.precision, 1),
            batch_size=self.batch_size,
            actors=self.actors,
            stall_s=self.stall_s,
            gpus_per_actor=self.gpus_per_actor,
            what="the Ray embedding pipeline",
        )
        for batch in batches:
            yield self.result(batch)

    def result(self, batch: dict[str, np.ndarray]) -> EmbeddingResult:
        """One finished batch as an ``EmbeddingResult``; a worker whose model differs is an error, not a row."""
        others = set(batch["model_id"].tolist()) - {self.model_id}
        if others:
            raise RuntimeError(
                f"a Ray worker embedded with {sorted(others)} but this run stores {self.model_id}: "
                f"give every node the same FER_WEIGHTS file (or cached ImageNet weights)"
            )
        good = [k for k, error in enumerate(batch["error"]) if not error]
        return EmbeddingResult(
            indices=[int(batch["index"][k]) for k in good],
            vectors=batch["vector"][good].astype(np.float32),
            failures={int(i): str(e) for i, e in zip(batch["index"], batch["error"]) if e},
        )
