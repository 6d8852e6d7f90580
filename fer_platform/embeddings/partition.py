"""One partition's embedding work: stage the plan on the server, compute what the store lacks, hand on the plan.

The asset calls this, and so does the benchmark, so both measure the same code path. The plan is made and kept by
PostgreSQL (``table.planned``): this process holds the counts, a page of contents to compute and the vectors of
the chunk in flight, never the partition's paths or vectors, whatever the partition holds.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import psycopg

from fer_platform.embeddings.cached import Embedder, VectorStore, embed_through_store
from fer_platform.embeddings.vector_store import STORE_TABLE
from fer_platform.postgres.connection import connect
from fer_platform.table.planned import (
    Comparison,
    PlanCounts,
    PlannedDelta,
    contents_page,
    drop_plan,
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
    dsn: str,
    plan: str,
    comparison: Comparison,
    embedder: Embedder,
    image_root: Path,
    store: VectorStore,
    report: Optional[Callable[[str], None]] = None,
) -> PartitionEmbedding:
    """Stage the plan of ``comparison`` under the key ``plan`` on the database ``dsn`` (the table's), then embed
    what it needs and the store lacks (paths are relative to ``image_root``) a page at a time; failures are
    collected, never raised. ``store``: the vector store of that database (``STORE_TABLE``). A connection is
    opened per step, none is held while the model runs; a run that fails here drops its plan."""
    with connect(dsn, vector=False) as conn:
        counts = stage_plan(conn, plan, comparison)
        failed = undecodable(conn, comparison, FAILED_LISTED) if counts.undecodable else {}
    delta = PlannedDelta(plan, comparison.emotion, comparison.model_id, STORE_TABLE, counts.to_write + counts.removed)
    try:
        computed, seconds, unread = embed_missing(dsn, delta, embedder, image_root, store, report, failed)
    except BaseException:
        with suppress(psycopg.Error, ConnectionError), connect(dsn, vector=False) as conn:
            drop_plan(conn, plan)
        raise
    reused = counts.to_write - unread - computed
    speed = computed / seconds if seconds else 0.0
    return PartitionEmbedding(replace(delta, rows=delta.rows - unread), counts, failed, counts.undecodable + unread,
                              computed, reused, speed)


def embed_missing(
    dsn: str, delta: PlannedDelta, embedder: Embedder, image_root: Path, store: VectorStore,
    report: Optional[Callable[[str], None]], failed: dict[str, str],
) -> tuple[int, float, int]:
    """Compute the plan's contents the store lacks, a page at a time; (contents computed, seconds, rows taken out
    of the plan because the model could not read their file: named in ``failed``)."""
    computed, seconds, unread, after = 0, 0.0, 0, ""
    while True:
        with connect(dsn, vector=False) as conn:
            page = contents_page(conn, delta, after)
        if not page:
            return computed, seconds, unread
        after = next(reversed(page))
        vectors = embed_through_store(embedder, {d: image_root / p for d, p in page.items()}, store,
                                      delta.emotion, report)
        computed, seconds = computed + vectors.computed, seconds + vectors.seconds
        if vectors.failures:
            with connect(dsn, vector=False) as conn:
                paths = unplan(conn, delta, list(vectors.failures))
            reasons = {page[digest]: reason for digest, reason in vectors.failures.items()}
            failed.update({path: reasons.get(path, "same bytes as a file the model could not read") for path in paths})
            unread += len(paths)
