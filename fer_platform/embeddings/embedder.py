"""Batched embedding of image files: decoding overlapped with inference.

Images are decoded and transformed (the seed's PIL transform, so vectors are
the seed's) ahead of the model while it runs under ``torch.inference_mode``,
on CUDA when present. With ``num_workers=0`` a background thread prefetches
batches (PIL and torch release the GIL): on a small CPU machine this beats
worker processes, which cost a fork per partition and fight the model for
cores. With ``num_workers>0`` a DataLoader uses that many processes, which is
what a GPU needs to be fed. Files that fail to decode come back as failures
with their reason; they never stop a batch.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fer_platform.embeddings.model import SEED_TRANSFORM, LoadedModel
from fer_platform.images.decode import ImageDecodeError, decode_image
from fer_platform.table.schema import EMBEDDING_DIM


class ImageFileDataset(Dataset):
    """Item ``i`` is ``(i, tensor, None)`` for a good file or ``(i, None, reason)`` for a bad one."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, Optional[torch.Tensor], Optional[str]]:
        try:
            return i, SEED_TRANSFORM(decode_image(self.paths[i].read_bytes())), None
        except (ImageDecodeError, OSError) as exc:
            return i, None, str(exc)


def collate(items: list) -> tuple[list[int], Optional[torch.Tensor], list[tuple[int, str]]]:
    """Stack the good items of a batch; keep the bad ones aside with their reasons."""
    good = [(i, t) for i, t, _ in items if t is not None]
    bad = [(i, err) for i, t, err in items if t is None]
    batch = torch.stack([t for _, t in good]) if good else None
    return [i for i, _ in good], batch, bad


@dataclass
class EmbeddingResult:
    """Vectors for the files that decoded (``indices`` into the input) and reasons for the rest."""

    indices: list[int] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.empty((0, EMBEDDING_DIM), np.float32))
    failures: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        """Throughput of the whole embedding call (decode, transform, model)."""
        return len(self.indices) / self.seconds if self.seconds > 0 else 0.0


def forward(model: LoadedModel, batch: torch.Tensor) -> np.ndarray:
    """One batch through the model, as float32 numpy on the CPU."""
    batch = batch.to(model.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), model.autocast():
        return model.module(batch).float().cpu().numpy()


def thread_prefetched(dataset: ImageFileDataset, batch_size: int, depth: int = 2) -> Iterator[tuple]:
    """Collated batches, each decoded by one background thread while earlier ones run through the model."""
    starts = range(0, len(dataset), batch_size)

    def load(start: int) -> tuple:
        return collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fer-decode") as pool:
        pending: deque = deque()
        for start in starts:
            pending.append(pool.submit(load, start))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def batches(dataset: ImageFileDataset, batch_size: int, num_workers: int, pin_memory: bool) -> Iterable[tuple]:
    """Collated batches from a prefetching thread (``num_workers=0``) or a multi-process DataLoader."""
    if num_workers == 0:
        return thread_prefetched(dataset, batch_size)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        prefetch_factor=2,
    )


def iter_embeddings(
    model: LoadedModel, paths: Sequence[Path], batch_size: int, num_workers: int
) -> Iterator[EmbeddingResult]:
    """One result per batch of ``paths`` (indices into ``paths``), decoding ahead of the model (see the module
    docstring); a run that is terminated stops between two batches."""
    if not paths:
        return
    pin = model.device.type == "cuda"
    for indices, batch, bad in batches(ImageFileDataset(paths), batch_size, num_workers, pin):
        result = EmbeddingResult(failures=dict(bad))
        if batch is not None:
            result.indices, result.vectors = list(indices), forward(model, batch)
        yield result


def embed_files(model: LoadedModel, paths: Sequence[Path], batch_size: int, num_workers: int) -> EmbeddingResult:
    """Embed ``paths`` in batches: every vector and failure at once (benchmarks; assets stream through the store)."""
    start = time.perf_counter()
    result = EmbeddingResult()
    chunks = []
    for part in iter_embeddings(model, paths, batch_size, num_workers):
        result.failures.update(part.failures)
        result.indices.extend(part.indices)
        chunks.append(part.vectors)
    if result.indices:
        result.vectors = np.concatenate(chunks)
    result.seconds = time.perf_counter() - start
    return result


@dataclass(frozen=True)
class BatchEmbedder:
    """A loaded model with its batching settings: what every embedding path runs."""

    model: LoadedModel
    batch_size: int
    num_workers: int
    engine: str = "in_process"

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def stream(self, paths: Sequence[Path]) -> Iterator[EmbeddingResult]:
        """Results batch by batch, in order; undecodable files come back as failures."""
        return iter_embeddings(self.model, paths, self.batch_size, self.num_workers)
