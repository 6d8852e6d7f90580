"""Row I/O on the ``imagenes_fer`` table: fingerprints, counts, the atomic partition write, partition reads.

Writes go through ``COPY ... FROM STDIN (FORMAT BINARY)`` inside one transaction
per partition, so a failure leaves the previous rows. A delta whose vectors are
already in the database (the vector store) sends only paths and digests: the
server joins them with the stored vectors (``INSERT ... SELECT``), so the writer
holds no vector, whatever the partition's size. Values are bound parameters;
identifiers are composed with ``psycopg.sql``.
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
    """What one materialization changes in one emotion partition.

    ``filepaths``/``sha256``/``vectors`` are the rows to (re)write; ``removed``
    are files gone from disk. Rows of files not mentioned are left as they are.
    ``covers``, when set, is what of the folder's manifest log the delta accounts for
    (scope, horizon, whether it compared the whole folder): the writer records it in
    the same transaction as the rows. ``vectors`` is None when ``vectors_from`` names
    a table of the same database that holds them by ``(content_sha256, model_id)``
    (the vector store): the write then takes them from there, server-side.
    """

    emotion: str
    model_id: str
    filepaths: Sequence[str]
    sha256: Sequence[str]
    vectors: np.ndarray | None
    removed: Sequence[str]
    covers: tuple[str, int, bool] | None = None
    vectors_from: str | None = None

    def __post_init__(self) -> None:
        if (self.vectors is None) == (self.vectors_from is None):
            raise ValueError("a PartitionDelta carries its vectors or names the table holding them, not both")

    def rows(self) -> Iterator[tuple]:
        """The rows in ``COPY_COLUMNS`` order (a delta that carries its vectors)."""
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


class MissingVectorsError(LookupError):
    """Rows of a delta whose vector the named table no longer holds (another model's run emptied the store)."""


STAGE = "fer_delta_stage"
INSERT_FROM = """
INSERT INTO {table} (filepath, emotion, vector, content_sha256, model_id)
SELECT s.filepath, %(emotion)s, v.vector, s.content_sha256, v.model_id
FROM {stage} s JOIN {source} v ON v.content_sha256 = s.content_sha256 AND v.model_id = %(model_id)s
ORDER BY s.ord
"""
ABSENT = """
SELECT s.filepath FROM {stage} s WHERE NOT EXISTS (
    SELECT 1 FROM {source} v WHERE v.content_sha256 = s.content_sha256 AND v.model_id = %(model_id)s
) ORDER BY s.ord LIMIT 5
"""


def insert_from(conn: psycopg.Connection, table: str, delta: PartitionDelta) -> int:
    """The delta's rows with their vectors taken from ``delta.vectors_from`` by the server: paths and digests
    go up by ``COPY`` into a temporary table, one ``INSERT ... SELECT`` joins them with the stored vectors (in
    the delta's order). A row whose vector is not there fails the write. Call inside the write's transaction."""
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (ord bigint, filepath text, content_sha256 char(64)) "
                "ON COMMIT DELETE ROWS").format(sql.Identifier(STAGE))
    )
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(STAGE)))  # a write earlier in the same transaction
    copy_stage = sql.SQL("COPY {} (ord, filepath, content_sha256) FROM STDIN (FORMAT BINARY)")
    with conn.cursor() as cur, cur.copy(copy_stage.format(sql.Identifier(STAGE))) as copy:
        copy.set_types(["int8", "text", "text"])
        for order, (path, digest) in enumerate(zip(delta.filepaths, delta.sha256, strict=True)):
            copy.write_row((order, path, digest))
    names = {"table": sql.Identifier(table), "stage": sql.Identifier(STAGE)}
    names["source"] = sql.Identifier(delta.vectors_from)
    params = {"emotion": delta.emotion, "model_id": delta.model_id}
    written = conn.execute(sql.SQL(INSERT_FROM).format(**names), params).rowcount
    if written != len(delta.filepaths):
        absent = [path for (path,) in conn.execute(sql.SQL(ABSENT).format(**names), params)]
        raise MissingVectorsError(
            f"{len(delta.filepaths) - written} of the {len(delta.filepaths)} rows to write have no vector of model "
            f"{delta.model_id} in {delta.vectors_from} (e.g. {', '.join(absent)}): nothing was written; run again"
        )
    return written


def write_delta(conn: psycopg.Connection, table: str, delta: PartitionDelta) -> int:
    """Apply ``delta`` in one transaction: either all of it lands or none of it does."""
    stale = list(delta.removed) + list(delta.filepaths)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.partition.{table}.{delta.emotion}",))
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE emotion = %s AND filepath = ANY(%s)").format(sql.Identifier(table)),
            (delta.emotion, stale),
        )
        if delta.vectors_from is not None:
            return insert_from(conn, table, delta)
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
