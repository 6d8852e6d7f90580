"""Row I/O on the ``imagenes_fer`` table: fingerprints, counts, the atomic partition write, partition reads.

Writes go through ``COPY ... FROM STDIN (FORMAT BINARY)`` inside one transaction
per partition, so a failure leaves the previous rows (the embeddings stage's own
write takes its vectors from the store, server-side: ``table.planned``). Values
are bound parameters; identifiers are composed with ``psycopg.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from fer_platform.table.schema import EMBEDDING_DIM

COPY_COLUMNS = ("filepath", "emotion", "vector", "content_sha256", "model_id")


@dataclass(frozen=True)
class PartitionDelta:
    """Rows of one emotion partition with their vectors in hand, to (re)write (``filepaths``/``sha256``/
    ``vectors``), and files gone from disk (``removed``); rows of files not mentioned are left as they are. What
    loads vectors computed elsewhere (the benchmarks' tables); ``embeddings_table`` stages its plan on the server
    instead (``table.planned``)."""

    emotion: str
    model_id: str
    filepaths: Sequence[str]
    sha256: Sequence[str]
    vectors: np.ndarray
    removed: Sequence[str]

    def rows(self) -> Iterator[tuple]:
        """The rows in ``COPY_COLUMNS`` order."""
        for path, digest, vec in zip(self.filepaths, self.sha256, self.vectors):
            yield path, self.emotion, vec, digest, self.model_id


def stored_fingerprints(
    conn: psycopg.Connection, table: str, emotion: str, prefix: str, only: Sequence[str] | None = None
) -> pl.DataFrame:
    """``filepath, sha256, model_id`` of the stored rows of ``emotion`` whose path starts with ``prefix`` (and is
    one of ``only``, when given: an index lookup per path instead of the whole partition).

    The prefix (``<split>/<emotion>/``) keeps a train run from touching test rows.
    """
    statement = "SELECT filepath, content_sha256, model_id FROM {} WHERE emotion = %s AND starts_with(filepath, %s)"
    params: tuple = (emotion, prefix)
    if only is not None:  # a separate condition, not "IS NULL OR": the planner then uses the filepath index
        statement, params = statement + " AND filepath = ANY(%s)", (*params, list(only))
    rows = conn.execute(sql.SQL(statement).format(sql.Identifier(table)), params).fetchall()
    schema = {"filepath": pl.String, "sha256": pl.String, "model_id": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def partition_row_count(conn: psycopg.Connection, table: str, emotion: str, prefix: str = "") -> int:
    """Rows of ``emotion`` (optionally only those whose path starts with ``prefix``)."""
    statement = sql.SQL("SELECT count(*) FROM {} WHERE emotion = %s AND starts_with(filepath, %s)")
    return conn.execute(statement.format(sql.Identifier(table)), (emotion, prefix)).fetchone()[0]


def copy_rows(conn: psycopg.Connection, table: str, rows: Iterable[tuple]) -> int:
    """``COPY ... FROM STDIN (FORMAT BINARY)`` of ``rows``; returns how many were sent."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS))
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(["text", "text", "vector", "text", "text"])
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def lock_partition(conn: psycopg.Connection, table: str, emotion: str) -> None:
    """Serialise the writes of one partition of ``table`` until the caller's transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.partition.{table}.{emotion}",))


def write_delta(conn: psycopg.Connection, table: str, delta: PartitionDelta) -> int:
    """Apply ``delta`` in one transaction: either all of it lands or none of it does."""
    stale = list(delta.removed) + list(delta.filepaths)
    with conn.transaction():
        lock_partition(conn, table, delta.emotion)
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE emotion = %s AND filepath = ANY(%s)").format(sql.Identifier(table)),
            (delta.emotion, stale),
        )
        return copy_rows(conn, table, delta.rows())


# One aggregate row per page of a partition: ids and paths as arrays, and every vector in a single bytea
# (vector_send minus its 4-byte header: big-endian float32) that numpy reinterprets in place, so reading a
# partition costs no per-row Python work. Pages keep each bytea far below PostgreSQL's 1 GB value limit.
PAGE_ARRAYS = """
SELECT coalesce(array_agg(id ORDER BY id), '{{}}'),
       coalesce(array_agg(filepath::text ORDER BY id), '{{}}'),
       coalesce(string_agg(substring(vector_send(vector) FROM 5), ''::bytea ORDER BY id), ''::bytea)
FROM (SELECT id, filepath, vector FROM {table} WHERE emotion = %(emotion)s AND id > %(after)s {only}
      ORDER BY id LIMIT %(page)s) page
"""
PAGE_ROWS = 50_000  # ~100 MB of vectors a query


def read_page(conn: psycopg.Connection, table: str, emotion: str, after: int, only: Optional[list[int]]) -> tuple:
    """(ids, paths, vectors) of the next page of the partition after id ``after``."""
    condition = sql.SQL("AND id = ANY(%(ids)s)" if only is not None else "")
    statement = sql.SQL(PAGE_ARRAYS).format(table=sql.Identifier(table), only=condition)
    params = {"emotion": emotion, "after": after, "ids": only, "page": PAGE_ROWS}
    ids, paths, blob = conn.execute(statement, params).fetchone()
    return ids, paths, np.frombuffer(blob, dtype=">f4").astype(np.float32).reshape(len(ids), EMBEDDING_DIM)


def read_partition(
    conn: psycopg.Connection, table: str, emotion: str, only: Optional[Sequence[int]] = None
) -> pl.DataFrame:
    """``id, emotion, filepath, vector`` (``Array(Float32, 512)``) of one emotion (only the ids ``only`` when
    given: a delta), ordered by id, read ``PAGE_ROWS`` at a time."""
    ids: list[int] = []
    paths: list[str] = []
    blocks: list[np.ndarray] = []
    wanted = None if only is None else list(only)
    while True:
        page_ids, page_paths, vectors = read_page(conn, table, emotion, ids[-1] if ids else -1, wanted)
        ids, paths = ids + list(page_ids), paths + list(page_paths)
        blocks.append(vectors)
        if len(page_ids) < PAGE_ROWS:
            break
    return pl.DataFrame(
        {
            "id": pl.Series(ids, dtype=pl.Int64),
            "emotion": pl.Series([emotion] * len(ids), dtype=pl.String),
            "filepath": pl.Series(paths, dtype=pl.String),
            "vector": pl.Series(np.concatenate(blocks), dtype=pl.Array(pl.Float32, EMBEDDING_DIM)),
        }
    )


def read_partitions(conn: psycopg.Connection, table: str, emotions: Optional[Sequence[str]]) -> pl.DataFrame:
    """The rows of several emotions (None: every emotion in the table), one frame."""
    if emotions is None:
        statement = sql.SQL("SELECT DISTINCT emotion FROM {} ORDER BY 1").format(sql.Identifier(table))
        emotions = [e for (e,) in conn.execute(statement)]
    frames = [read_partition(conn, table, e) for e in emotions]
    return pl.concat(frames) if frames else read_partition(conn, table, "")


INVALID_VECTORS = """
SELECT emotion, filepath FROM {table}
WHERE (
    vector IS NULL OR vector_dims(vector) <> %(dim)s
    OR vector_norm(vector) = 0 OR vector_norm(vector) IN ('NaN'::float8, 'Infinity'::float8)
) {scope}
ORDER BY emotion, filepath LIMIT %(limit)s
"""


def invalid_vectors(
    conn: psycopg.Connection, table: str, dim: int, emotion: str | None = None,
    only: Sequence[str] | None = None, limit: int = 20,
) -> list[tuple[str, str]]:
    """(emotion, file path) of rows whose vector is missing, of another dimension, zero or not finite: of one
    emotion or all, of the paths ``only`` names or all of them (the scheduled verification)."""
    params = {"emotion": emotion, "dim": dim, "only": None if only is None else list(only), "limit": limit}
    scope = " AND emotion = %(emotion)s" if emotion is not None else ""
    scope += " AND filepath = ANY(%(only)s)" if only is not None else ""  # separate: the planner uses the index
    statement = sql.SQL(INVALID_VECTORS).format(table=sql.Identifier(table), scope=sql.SQL(scope))
    return conn.execute(statement, params).fetchall()
