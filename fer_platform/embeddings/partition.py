"""One partition's embedding work, independent of Dagster: plan, embed, build the delta.

The asset calls this, and so does the benchmark, so both measure the same code path.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from fer_platform.embeddings.embedder import EmbeddingResult
from fer_platform.embeddings.plan import EmbeddingPlan, plan_partition
from fer_platform.embeddings.resource import ResNetEmbedder
from fer_platform.embeddings.store import PartitionDelta
from fer_platform.raw_images.resource import ImageFolderResource


@dataclass(frozen=True)
class PartitionEmbedding:
    """The delta to write plus what a person wants to know about how it was made."""

    delta: PartitionDelta
    plan: EmbeddingPlan
    result: EmbeddingResult
    failed: dict[str, str]


def embed_partition(
    emotion: str,
    manifest: pl.DataFrame,
    stored: pl.DataFrame,
    embedder: ResNetEmbedder,
    images: ImageFolderResource,
) -> PartitionEmbedding:
    """Embed what changed in one partition; failures are collected, never raised."""
    model = embedder.model()
    plan = plan_partition(manifest, stored, model.model_id)
    result = embedder.embed([images.resolve(p) for p in plan.to_embed])
    failed = dict(plan.undecodable)
    failed.update({plan.to_embed[i]: reason for i, reason in result.failures.items()})
    digests = dict(manifest.select("filepath", "sha256").iter_rows())
    embedded = [plan.to_embed[i] for i in result.indices]
    delta = PartitionDelta(
        emotion=emotion,
        model_id=model.model_id,
        filepaths=embedded,
        sha256=[digests[p] for p in embedded],
        vectors=result.vectors,
        removed=plan.removed,
    )
    return PartitionEmbedding(delta=delta, plan=plan, result=result, failed=failed)
