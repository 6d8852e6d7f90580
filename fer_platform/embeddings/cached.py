"""Embedding through the content-addressed vector store: look up first, compute the rest in committed chunks.

Each chunk holds about ``CHUNK_SECONDS`` of model work (sized from the rate
measured on the chunk before), so a run killed or cancelled part-way keeps all
but the chunk in flight, and the next run computes only what is not stored yet.
Files are keyed by content: identical bytes go through the model once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

from fer_platform.embeddings.embedder import BatchEmbedder
from fer_platform.progress import Progress

CHUNK_SECONDS = 10.0  # the issue allows up to ~30 s; 10 s loses less to a kill and costs nothing measurable
FIRST_CHUNK_BATCHES = 4


class VectorStore(Protocol):
    """Vectors by content sha256 for one model (``table.vector_store.PgVectorStore``)."""

    def lookup(self, digests: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put(self, digests: Sequence[str], vectors: np.ndarray) -> int: ...


@dataclass
class StoredEmbedding:
    """Vectors by digest (stored before or computed now), failures by digest, and how many were computed."""

    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    computed: int = 0
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def next_chunk_size(done: int, seconds: float, batch_size: int) -> int:
    """Whole batches worth about ``CHUNK_SECONDS`` at the rate just measured."""
    rate = done / seconds if seconds > 0 else 0.0
    return max(batch_size, int(rate * CHUNK_SECONDS) // batch_size * batch_size)


def embed_through_store(
    embedder: BatchEmbedder,
    files: dict[str, Path],
    store: VectorStore,
    label: str,
    report: Optional[Callable[[str], None]] = None,
) -> StoredEmbedding:
    """Vectors for ``files`` (content sha256 -> one path with those bytes): stored ones, then computed ones."""
    out = StoredEmbedding(vectors=store.lookup(list(files)))
    missing = [digest for digest in files if digest not in out.vectors]
    progress = Progress(label, len(missing), report)
    size, start = embedder.batch_size * FIRST_CHUNK_BATCHES, 0
    while start < len(missing):
        chunk = missing[start : start + size]
        result = embedder.embed([files[d] for d in chunk], on_batch=progress.advance)
        done = [chunk[i] for i in result.indices]
        store.put(done, result.vectors)
        out.vectors.update(zip(done, result.vectors))
        out.failures.update({chunk[i]: reason for i, reason in result.failures.items()})
        out.computed += len(done)
        out.seconds += result.seconds
        start += len(chunk)
        size = next_chunk_size(len(chunk), result.seconds, embedder.batch_size)
    if missing:
        progress.finish()
    return out
