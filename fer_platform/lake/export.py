"""What ``lakehouse_embeddings`` sends to the lake: the replica's rows of one emotion changed since the horizon the
Delta table holds for it, read from the replica's change log (``table.change_log``) in one snapshot.

A first export (or one after a TRUNCATE or a restore of the replica) reads the whole partition; every later one
reads the rows of the logged ids only, so a landing of k faces reads k rows whatever the partition holds. Log
entries below the horizon the table already committed are pruned first: they were applied by an earlier commit.
"""

from __future__ import annotations

import polars as pl
import psycopg

from fer_platform.lake.delta import EmbeddingsChange
from fer_platform.lake.layout import image_path
from fer_platform.table.change_log import changed_ids, ensure_change_log, prune, snapshot_horizon
from fer_platform.table.rows import read_partition


def replica_change(conn: psycopg.Connection, table: str, emotion: str, applied: int | None) -> EmbeddingsChange:
    """The change that brings the lake's partition from ``applied`` (None: nothing trusted) to the replica now,
    with ``filepath`` rewritten to the image's lake path (the formula that names the lake images)."""
    ensure_change_log(conn, table)
    if applied is not None:
        prune(conn, table, emotion, applied)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with conn.transaction():
        horizon = snapshot_horizon(conn)
        ids = None if applied is None else changed_ids(conn, table, emotion, applied)
        rows = read_partition(conn, table, emotion, ids)
    rows = rows.with_columns(image_path(pl.col("filepath")).alias("filepath"))
    return EmbeddingsChange(emotion, rows, ids, horizon)
