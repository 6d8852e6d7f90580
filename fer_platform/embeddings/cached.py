"""Embedding through the content-addressed vector store: look up first, compute the rest in committed chunks.

Computed vectors are committed about every ``CHUNK_SECONDS`` of work (the first
chunk after a few batches, and at most ``CHUNK_ROWS`` vectors), so a run killed or
cancelled part-way keeps all but the chunk in flight, and the next run computes
only what is not stored yet. The same holds whichever engine computes them: this
process or a Ray cluster. Files are keyed by content: identical bytes go through
the model once. The vectors stay in the store: the run keeps which contents the
store holds, and the table's write takes the vectors from there, so this process
holds at most the chunk in flight, whatever the partition's size.
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
CHUNK_ROWS = 16_384  # 32 MB of vectors: a fast engine (a GPU, Ray actors) commits before 10 s have passed


class VectorStore(Protocol):
    """Vectors by content sha256 for one model (``embeddings.vector_store.PgVectorStore``)."""

    def held(self, digests: Sequence[str]) -> set[str]: ...

    def put(self, digests: Sequence[str], vectors: np.ndarray) -> int: ...


@dataclass
class StoredEmbedding:
    """The digests whose vector the store holds (stored before or committed now: the vectors themselves stay
    there), failures by digest, and how many were computed."""

    held: set[str] = field(default_factory=set)
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
        after about ``CHUNK_SECONDS`` of work, or sooner at ``CHUNK_ROWS`` vectors (the memory they take)."""
        if len(self.digests) >= CHUNK_ROWS:
            return True
        return self.batches >= FIRST_CHUNK_BATCHES if first else time.monotonic() - self.started >= CHUNK_SECONDS


def embed_through_store(
    embedder: Embedder,
    files: dict[str, Path],
    store: VectorStore,
    label: str,
    report: Optional[Callable[[str], None]] = None,
) -> StoredEmbedding:
    """Vectors in the store for ``files`` (content sha256 -> one path with those bytes): the stored ones are
    only looked at, the rest computed and committed chunk by chunk as they arrive."""
    out = StoredEmbedding(held=store.held(list(files)))
    missing = [digest for digest in files if digest not in out.held]
    if not missing:
        return out
    progress = Progress(label, len(missing), report)
    start, pending, commits = time.perf_counter(), PendingChunk(), 0
    for result in embedder.stream([files[d] for d in missing]):
        done = [missing[i] for i in result.indices]
        pending.digests += done
        pending.vectors.append(result.vectors)
        pending.batches += 1
        out.failures.update({missing[i]: reason for i, reason in result.failures.items()})
        progress.advance(len(done) + len(result.failures))
        if pending.due(first=commits == 0):
            commit(store, pending, out.held)
            pending, commits = PendingChunk(), commits + 1
    commit(store, pending, out.held)
    out.computed = sum(1 for d in missing if d in out.held)
    out.seconds = time.perf_counter() - start
    progress.finish()
    return out


def commit(store: VectorStore, pending: PendingChunk, held: set[str]) -> None:
    """Put the pending vectors in the store (one transaction); from then on the store holds them."""
    if pending.digests:
        store.put(pending.digests, np.concatenate(pending.vectors))
        held.update(pending.digests)
