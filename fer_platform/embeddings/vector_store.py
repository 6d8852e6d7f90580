"""The content-addressed vector store: one vector per (content sha256, model id), beside ``imagenes_fer``.

It is a cache, the table stays the truth. Vectors are committed here in chunks
as the model computes them, so a run killed part-way loses at most one chunk,
and files with identical bytes (another name, emotion or split) go through the
model once. The key is the full sha256 of the file's bytes and the model id, so
the store never answers with a vector of other bytes or of another model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import psycopg
from psycopg import sql

from fer_platform.postgres.connection import connect, error_line
from fer_platform.postgres.dsn import describe
from fer_platform.table.schema import EMBEDDING_DIM, create_vector_extension

STORE_TABLE = "fer_vector_store"

CREATE_STORE = """
CREATE TABLE IF NOT EXISTS {store} (
    content_sha256 char(64) NOT NULL,
    model_id text NOT NULL,
    vector vector({dim}) NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (content_sha256, model_id)
);
CREATE INDEX IF NOT EXISTS {model_index} ON {store} (model_id)
"""
STAGE_COPY = "COPY fer_store_stage (content_sha256, model_id, vector) FROM STDIN (FORMAT BINARY)"


@dataclass(frozen=True)
class StoreSize:
    """What the store holds, for materialization metadata."""

    rows: int
    bytes: int


def ensure_store(conn: psycopg.Connection) -> None:
    """Create the store (and the vector extension) if missing."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.schema.{STORE_TABLE}",))
        create_vector_extension(conn)
        conn.execute(
            sql.SQL(CREATE_STORE).format(
                store=sql.Identifier(STORE_TABLE), dim=sql.Literal(EMBEDDING_DIM),
                model_index=sql.Identifier(f"{STORE_TABLE}_model"),
            )
        )


def drop_other_models(conn: psycopg.Connection, model_id: str) -> int:
    """Delete the entries of every other model id (the model changed); returns how many went. Asking whether
    there are any is one look at the ``model_id`` index, not a scan of the store."""
    store = sql.Identifier(STORE_TABLE)
    with conn.transaction():
        other = conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE model_id < %s OR model_id > %s LIMIT 1").format(store),
            (model_id, model_id),
        ).fetchone()
        if other is None:
            return 0
        return conn.execute(sql.SQL("DELETE FROM {} WHERE model_id <> %s").format(store), (model_id,)).rowcount


def held(conn: psycopg.Connection, model_id: str, digests: Sequence[str]) -> set[str]:
    """Which of ``digests`` the store holds a vector for, under ``model_id``: what a run needs to know, without
    reading the vectors (the table's write takes them from the store, server-side)."""
    if not digests:
        return set()
    statement = sql.SQL("SELECT content_sha256 FROM {} WHERE model_id = %s AND content_sha256 = ANY(%s)").format(
        sql.Identifier(STORE_TABLE)
    )
    return {digest for (digest,) in conn.execute(statement, (model_id, list(digests)))}


def lookup(conn: psycopg.Connection, model_id: str, digests: Sequence[str]) -> dict[str, np.ndarray]:
    """The stored vectors of ``digests`` for ``model_id`` (those absent are simply missing)."""
    if not digests:
        return {}
    statement = sql.SQL(
        "SELECT content_sha256, substring(vector_send(vector) FROM 5) FROM {} "
        "WHERE model_id = %s AND content_sha256 = ANY(%s)"
    ).format(sql.Identifier(STORE_TABLE))
    rows = conn.execute(statement, (model_id, list(digests))).fetchall()
    return {digest: np.frombuffer(blob, dtype=">f4").astype(np.float32) for digest, blob in rows}


def put(conn: psycopg.Connection, model_id: str, digests: Sequence[str], vectors: np.ndarray) -> int:
    """Commit one chunk of vectors (all or none); entries already there are kept. Returns rows added."""
    if not len(digests):
        return 0
    with conn.transaction():
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS fer_store_stage (content_sha256 char(64), model_id text, vector vector) "
            "ON COMMIT DELETE ROWS"
        )
        with conn.cursor() as cur, cur.copy(STAGE_COPY) as copy:
            copy.set_types(["text", "text", "vector"])
            for digest, vector in zip(digests, vectors, strict=True):
                copy.write_row((digest, model_id, vector))
        statement = sql.SQL(
            "INSERT INTO {} (content_sha256, model_id, vector) SELECT content_sha256, model_id, vector "
            "FROM fer_store_stage ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(STORE_TABLE))
        return conn.execute(statement).rowcount


EXACT_BELOW = 50_000  # stores estimated smaller are counted exactly (a bounded read); larger ones are estimated


def store_size(conn: psycopg.Connection) -> StoreSize:
    """Rows and bytes (table, TOAST and index) of the store. Rows are the planner's estimate (kept by
    autovacuum's analyze) once it passes ``EXACT_BELOW``: counting would read the whole store on every run."""
    estimate, size = conn.execute(
        "SELECT reltuples::bigint, pg_total_relation_size(oid) FROM pg_class WHERE oid = %s::regclass", (STORE_TABLE,)
    ).fetchone()
    if estimate < EXACT_BELOW:
        count = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) bounded").format(sql.Identifier(STORE_TABLE))
        exact = conn.execute(count, (EXACT_BELOW,)).fetchone()[0]
        estimate = exact if exact < EXACT_BELOW else max(estimate, exact)
    return StoreSize(rows=estimate, bytes=size)


class StoreWriteError(RuntimeError):
    """A chunk of vectors could not be committed; the message names the server, never the password."""


@dataclass(frozen=True)
class PgVectorStore:
    """The store of one model on one server, opened per call (a chunk is its own transaction)."""

    dsn: str
    model_id: str

    def prepare(self) -> int:
        """Create the store if missing and drop the entries of other models; returns how many were dropped."""
        with connect(self.dsn, vector=False) as conn:
            ensure_store(conn)
            return drop_other_models(conn, self.model_id)

    def held(self, digests: Sequence[str]) -> set[str]:
        with connect(self.dsn, vector=False) as conn:
            return held(conn, self.model_id, digests)

    def lookup(self, digests: Sequence[str]) -> dict[str, np.ndarray]:
        with connect(self.dsn) as conn:
            return lookup(conn, self.model_id, digests)

    def put(self, digests: Sequence[str], vectors: np.ndarray) -> int:
        try:
            with connect(self.dsn) as conn:
                return put(conn, self.model_id, digests, vectors)
        except psycopg.Error as exc:
            raise StoreWriteError(
                f"could not store {len(digests)} vectors in {STORE_TABLE} on {describe(self.dsn)}: "
                f"{error_line(exc)}; nothing of this chunk was kept, the table is unchanged"
            ) from exc

    def size(self) -> StoreSize:
        with connect(self.dsn, vector=False) as conn:
            return store_size(conn)
