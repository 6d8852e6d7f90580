"""The seed's embedding as a Ray Data pipeline: read and decode as Ray tasks where the images are, ResNet18 in a
pool of actors (``map_batches`` with an ``ActorPoolStrategy``), results streamed back to the driver.

The shape of Ray's batch-inference examples: tasks read each file where it is (a
path every node sees, or an fsspec URL such as the Azure source container, with
the workers' own credentials), decode it to 8-bit grayscale, which is exactly
what the seed transform's ``Grayscale(3)`` makes of it, and resize and crop a
batch at once as its ``Resize(256)`` and ``CenterCrop(224)`` do (uint8, within
one level of PIL); each actor loads the model once, normalizes the uint8 crops
on its device and runs the forward pass, so the vectors are the in-process ones
(cosine >= 0.9999). Actors take a fraction of a CPU (and one
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
import torch

from fer_platform.embeddings.embedder import EmbeddingResult, forward
from fer_platform.embeddings.model import load_model, normalize_crops, resolve_precision
from fer_platform.images.reading import read_seed_crops
from fer_platform.ray_cluster.pipelines import Pool, actor_pipeline
from fer_platform.table.schema import EMBEDDING_DIM


class EmbedActor:
    """Ray actor: the seed's ResNet18, loaded once, on batches of (N, 224, 224) uint8 crops that the read tasks
    decoded, resized and cropped (``reading.read_seed_crops``); it only normalizes them on its device
    (``normalize_crops``, one fused op) and runs the forward pass, so a GPU is not starved by per-image PIL work.
    The crops arrive as uint8 rather than normalized float: 1 byte a pixel instead of 12 (three float32 channels),
    12x less object-store traffic."""

    def __init__(self, weights: str, device: str, precision: str, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.model = load_model(weights, device, precision)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        good = [k for k, error in enumerate(batch["error"]) if not error]
        vectors = np.zeros((len(batch["error"]), EMBEDDING_DIM), np.float32)
        if good:
            crops = torch.from_numpy(np.ascontiguousarray(batch["crop"][good]))  # a copy: Ray's may be read-only
            vectors[good] = forward(self.model, normalize_crops(crops, self.model.device))
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
    pool: Pool
    engine: str = "ray"

    @classmethod
    def on(cls, pool: Pool, weights: str, device: str, precision: str, batch_size: int) -> RayEmbedder:
        """The embedder for ``pool``'s actors: their device (a GPU when they ask for one) decides ``auto``
        precision (bf16 on a GPU, fp32 on a CPU), and so the model id stored. The model is loaded here for that
        id, so weights that cannot load fail before any work."""
        device = "cuda" if pool.gpus_per_actor else device
        precision = resolve_precision(precision, torch.device("cpu" if device == "auto" else device))
        model_id = load_model(weights, "cpu", precision).model_id
        return cls(model_id, weights, device, precision, batch_size, pool)

    def stream(self, paths: Sequence[Path | str]) -> Iterator[EmbeddingResult]:
        """Results in the order batches finish, indexed into ``paths``."""
        if not paths:
            return
        batches = actor_pipeline(
            {"index": np.arange(len(paths)), "location": np.array([str(p) for p in paths], dtype=object)},
            read=read_seed_crops,
            actor=EmbedActor,
            actor_args=(self.weights, self.device, self.precision, 1),
            batch_size=self.batch_size,
            pool=self.pool,
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
