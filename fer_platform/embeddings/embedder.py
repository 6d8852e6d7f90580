"""Batched embedding of image files: decoding overlapped with inference.

A DataLoader decodes and transforms images in worker processes (the seed's
PIL transform, so vectors are the seed's) while the main process runs the
model under ``torch.inference_mode`` on CUDA when present. Files that fail to
decode come back as failures with their reason; they never stop a batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fer_platform.embeddings.model import EMBEDDING_DIM, SEED_TRANSFORM, LoadedModel
from fer_platform.raw_images.decode import ImageDecodeError, decode_image


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
    with torch.inference_mode():
        return model.module(batch).float().cpu().numpy()


def embed_files(
    model: LoadedModel, paths: Sequence[Path], batch_size: int, num_workers: int
) -> EmbeddingResult:
    """Embed ``paths`` in batches; decoding runs in ``num_workers`` processes beside inference."""
    start = time.perf_counter()
    result = EmbeddingResult()
    if not paths:
        return result
    loader = DataLoader(
        ImageFileDataset(paths),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=model.device.type == "cuda",
        prefetch_factor=2 if num_workers else None,
    )
    chunks = []
    for indices, batch, bad in loader:
        result.failures.update(bad)
        if batch is not None:
            chunks.append(forward(model, batch))
            result.indices.extend(indices)
    if chunks:
        result.vectors = np.concatenate(chunks)
    result.seconds = time.perf_counter() - start
    return result
