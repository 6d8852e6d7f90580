"""One partition's embedding work: stage the plan on the server, compute what the store lacks, hand on the plan.

The asset calls this, and so does the benchmark, so both measure the same code path. The plan is made and kept by
PostgreSQL (``table.planned``): this process holds the counts, a page of contents to compute and the vectors of
the chunk in flight, never the partition's paths or vectors, whatever the partition holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import psycopg

from fer_platform.embeddings.cached import Embedder, VectorStore, embed_through_store
from fer_platform.embeddings.vector_store import STORE_TABLE
from fer_platform.table.planned import (
    Comparison,
    PlanCounts,
    PlannedDelta,
    contents_to_compute,
    stage_plan,
    undecodable,
    unplan,
)

FAILED_LISTED = 50  # undecodable files a run names (the counts say how many there are)


@dataclass(frozen=True)
class PartitionEmbedding:
    """The plan to write plus what a person wants to know about how it was made."""

    delta: PlannedDelta
    counts: PlanCounts
    failed: dict[str, str]  # up to FAILED_LISTED undecodable files, and every file the model could not read
    failures: int  # undecodable files and files the model could not read
    embedded: int  # contents that went through the model in this run
    reused: int  # rows whose vector came from the store (or from identical bytes computed in this run)
    images_per_s: float


def embed_partition(
    conn: psycopg.Connection,
    plan: str,
    comparison: Comparison,
    embedder: Embedder,
    image_root: Path,
    store: VectorStore,
    report: Optional[Callable[[str], None]] = None,
) -> PartitionEmbedding:
    """Stage the plan of ``comparison`` under the key ``plan``, then embed what it needs and the store lacks (paths
    are relative to ``image_root``) a page at a time; failures are collected, never raised. ``store``: the
    vector store of the table's database (``STORE_TABLE``); ``conn``: that database, idle (each step commits)."""
    counts = stage_plan(conn, plan, comparison)
    delta = PlannedDelta(plan, comparison.emotion, comparison.model_id, STORE_TABLE, counts.to_write + counts.removed)
    failed = undecodable(conn, comparison, FAILED_LISTED) if counts.undecodable else {}
    computed, seconds, unplanned, unread = 0, 0.0, 0, 0
    for page in contents_to_compute(conn, delta):
        files = {digest: image_root / path for digest, path in page.items()}
        vectors = embed_through_store(embedder, files, store, comparison.emotion, report)
        computed, seconds = computed + vectors.computed, seconds + vectors.seconds
        failed.update({page[digest]: reason for digest, reason in vectors.failures.items()})
        unread += len(vectors.failures)
        unplanned += unplan(conn, delta, list(vectors.failures)) if vectors.failures else 0
    delta = replace(delta, rows=delta.rows - unplanned)
    reused = counts.to_write - unplanned - computed
    speed = computed / seconds if seconds else 0.0
    return PartitionEmbedding(delta, counts, failed, counts.undecodable + unread, computed, reused, speed)
