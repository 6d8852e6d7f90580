"""One partition's embedding work: plan, embed, build the delta.

The asset calls this, and so does the benchmark, so both measure the same code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from fer_platform.embedding.embedder import BatchEmbedder, EmbeddingResult
from fer_platform.embedding.plan import EmbeddingPlan, plan_partition
from fer_platform.table.rows import PartitionDelta


@dataclass(frozen=True)
class PartitionEmbedding:
    """The delta to write plus what a person wants to know about how it was made."""

    delta: PartitionDelta
    plan: EmbeddingPlan
    result: EmbeddingResult
    failed: dict[str, str]


def embed_partition(
    emotion: str, manifest: pl.DataFrame, stored: pl.DataFrame, embedder: BatchEmbedder, image_root: Path
) -> PartitionEmbedding:
    """Embed what changed in one partition (manifest paths are relative to ``image_root``); failures are
    collected, never raised."""
    model_id = embedder.model.model_id
    plan = plan_partition(manifest, stored, model_id)
    result = embedder.embed([image_root / p for p in plan.to_embed])
    failed = dict(plan.undecodable)
    failed.update({plan.to_embed[i]: reason for i, reason in result.failures.items()})
    digests = dict(manifest.select("filepath", "sha256").iter_rows())
    embedded = [plan.to_embed[i] for i in result.indices]
    delta = PartitionDelta(
        emotion=emotion,
        model_id=model_id,
        filepaths=embedded,
        sha256=[digests[p] for p in embedded],
        vectors=result.vectors,
        removed=plan.removed,
    )
    return PartitionEmbedding(delta=delta, plan=plan, result=result, failed=failed)
