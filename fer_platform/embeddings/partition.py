"""One partition's embedding work: plan, take stored vectors, compute the rest, build the delta.

The asset calls this, and so does the benchmark, so both measure the same code path. The delta names its rows
(paths and content digests) and the vector store that holds their vectors: the table's write takes them from
there, so this process never holds the partition's vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import polars as pl

from fer_platform.embeddings.cached import Embedder, VectorStore, embed_through_store
from fer_platform.embeddings.plan import EmbeddingPlan, plan_partition
from fer_platform.embeddings.vector_store import STORE_TABLE
from fer_platform.table.rows import PartitionDelta


@dataclass(frozen=True)
class PartitionEmbedding:
    """The delta to write plus what a person wants to know about how it was made."""

    delta: PartitionDelta
    plan: EmbeddingPlan
    failed: dict[str, str]
    embedded: int  # images that went through the model in this run
    reused: int  # rows whose vector came from the store (or from identical bytes computed in this run)
    images_per_s: float


def embed_partition(
    emotion: str,
    manifest: pl.DataFrame,
    stored: pl.DataFrame,
    embedder: Embedder,
    image_root: Path,
    store: VectorStore,
    report: Optional[Callable[[str], None]] = None,
) -> PartitionEmbedding:
    """Embed what changed in one partition (manifest paths are relative to ``image_root``); failures are
    collected, never raised. ``store`` is the vector store of the table's database (``STORE_TABLE``)."""
    model_id = embedder.model_id
    plan = plan_partition(manifest, stored, model_id)
    digests = dict(manifest.select("filepath", "sha256").iter_rows())
    files = {digests[p]: image_root / p for p in reversed(plan.to_embed)}  # one path per content
    vectors = embed_through_store(embedder, files, store, emotion, report)
    rows = [p for p in plan.to_embed if digests[p] in vectors.held]
    failed = dict(plan.undecodable)
    failed.update({p: vectors.failures[digests[p]] for p in plan.to_embed if digests[p] in vectors.failures})
    delta = PartitionDelta(
        emotion=emotion,
        model_id=model_id,
        filepaths=rows,
        sha256=[digests[p] for p in rows],
        vectors=None,
        removed=plan.removed,
        vectors_from=STORE_TABLE,
    )
    return PartitionEmbedding(delta, plan, failed, vectors.computed, len(rows) - vectors.computed, vectors.images_per_s)
