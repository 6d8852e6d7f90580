"""Embedding through the content-addressed vector store: look up first, compute the rest in committed chunks.

Computed vectors are committed about every ``CHUNK_SECONDS`` of work (the first
chunk after a few batches), so a run killed or cancelled part-way keeps all but
the chunk in flight, and the next run computes only what is not stored yet. The
same holds whichever engine computes them: this process or a Ray cluster.
Files are keyed by content: identical bytes go through the model once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Protocol, Sequence

import numpy as np

from fer_platform.embeddings.embedder import EmbeddingResult
from fer_platform.progress import Progress

CHUNK_SECONDS = 10.0  # the issue allows up to ~30 s; 10 s loses less to a kill and costs nothing measurable
FIRST_CHUNK_BATCHES = 4


class VectorStore(Protocol):
    """Vectors by content sha256 for one model (``embeddings.vector_store.PgVectorStore``)."""

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


class Embedder(Protocol):
    """What computes vectors: in this process (``embedder.BatchEmbedder``) or on a Ray cluster
    (``on_ray.RayEmbedder``); results come batch by batch, in any order, indexed into ``paths``."""

    batch_size: int
    engine: str  # "in_process" or "ray"
    model_id: str  # the id stored with every row (``embeddings.model``)

    def stream(self, paths: Sequence[Path]) -> Iterable[EmbeddingResult]: ...


@dataclass
class PendingChunk:
    """Computed vectors not committed to the store yet."""

    digests: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    def due(self, first: bool) -> bool:
        """Commit after ``FIRST_CHUNK_BATCHES`` batches the first time (a kill early on loses little), then
        after about ``CHUNK_SECONDS`` of work."""
        return self.batches >= FIRST_CHUNK_BATCHES if first else time.monotonic() - self.started >= CHUNK_SECONDS


def embed_through_store(
    embedder: Embedder,
    files: dict[str, Path],
    store: VectorStore,
    label: str,
    report: Optional[Callable[[str], None]] = None,
) -> StoredEmbedding:
    """Vectors for ``files`` (content sha256 -> one path with those bytes): stored ones, then computed ones,
    committed to the store chunk by chunk as they arrive."""
    out = StoredEmbedding(vectors=store.lookup(list(files)))
    missing = [digest for digest in files if digest not in out.vectors]
    if not missing:
        return out
    progress = Progress(label, len(missing), report)
    start, pending, commits = time.perf_counter(), PendingChunk(), 0
    for result in embedder.stream([files[d] for d in missing]):
        done = [missing[i] for i in result.indices]
        pending.digests += done
        pending.vectors.append(result.vectors)
        pending.batches += 1
        out.vectors.update(zip(done, result.vectors))
        out.failures.update({missing[i]: reason for i, reason in result.failures.items()})
        progress.advance(len(done) + len(result.failures))
        if pending.due(first=commits == 0):
            commit(store, pending)
            pending, commits = PendingChunk(), commits + 1
    commit(store, pending)
    out.computed = sum(1 for d in missing if d in out.vectors)
    out.seconds = time.perf_counter() - start
    progress.finish()
    return out


def commit(store: VectorStore, pending: PendingChunk) -> None:
    """Put the pending vectors in the store (one transaction)."""
    if pending.digests:
        store.put(pending.digests, np.concatenate(pending.vectors))
