"""``imagenes_fer_expression``: the trained emotion model's expression vector of every stored image.

It sits beside ``imagenes_fer`` (whose seed vectors are never changed), one row
per file path, tagged with the model version and the image's content hash, so a
run recomputes only rows whose image or model changed. Its dimension is the
model's: when a new architecture changes it, the table's rows all belong to an
older model anyway, so the table is recreated (and said so) rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import psycopg
from psycopg import sql

from fer_platform.table.schema import create_vector_extension

EXPRESSION_TABLE = "imagenes_fer_expression"

CREATE = """
CREATE TABLE IF NOT EXISTS {table} (
    id bigserial PRIMARY KEY,
    filepath varchar(255) NOT NULL UNIQUE,
    emotion varchar(50) NOT NULL,
    model_version text NOT NULL,
    content_sha256 char(64) NOT NULL,
    vector vector({dim}) NOT NULL,
    embedded_at timestamptz NOT NULL DEFAULT now()
)
"""
INDEXES = (
    "CREATE INDEX IF NOT EXISTS {hnsw} ON {table} USING hnsw (vector vector_cosine_ops)",
    "CREATE INDEX IF NOT EXISTS {by_emotion} ON {table} (emotion, model_version)",
)


@dataclass(frozen=True)
class ExpressionRow:
    filepath: str
    emotion: str
    content_sha256: str
    vector: np.ndarray


def stored_dimension(conn: psycopg.Connection, table: str) -> int | None:
    """The vector dimension of an existing table, None when there is no table."""
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'vector'", (table,)
    ).fetchone()
    return int(row[0]) if row else None


def ensure_expression_table(conn: psycopg.Connection, dim: int, table: str = EXPRESSION_TABLE) -> bool:
    """Create the table and its HNSW index for ``dim``-float vectors; True when an older one was replaced."""
    ids = {
        "table": sql.Identifier(table),
        "hnsw": sql.Identifier(f"{table}_vector_hnsw"),
        "by_emotion": sql.Identifier(f"{table}_emotion_idx"),
    }
    create_vector_extension(conn)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.schema.{table}",))
        replaced = stored_dimension(conn, table) not in (None, dim)
        if replaced:
            conn.execute(sql.SQL("DROP TABLE {}").format(ids["table"]))
        conn.execute(sql.SQL(CREATE).format(table=ids["table"], dim=sql.Literal(dim)))
        for statement in INDEXES:
            conn.execute(sql.SQL(statement).format(**ids))
    return replaced


def stored_expressions(conn: psycopg.Connection, emotion: str, table: str = EXPRESSION_TABLE) -> dict[str, tuple]:
    """``filepath -> (content_sha256, model_version)`` of one emotion's rows."""
    rows = conn.execute(
        sql.SQL("SELECT filepath, content_sha256, model_version FROM {} WHERE emotion = %s").format(
            sql.Identifier(table)
        ),
        (emotion,),
    ).fetchall()
    return {path: (digest, version) for path, digest, version in rows}


def write_expressions(
    conn: psycopg.Connection,
    version: str,
    rows: Sequence[ExpressionRow],
    removed: Sequence[str],
    table: str = EXPRESSION_TABLE,
) -> None:
    """Upsert ``rows`` and delete ``removed`` file paths, in one transaction."""
    ident = sql.Identifier(table)
    with conn.transaction():
        if removed:
            conn.execute(sql.SQL("DELETE FROM {} WHERE filepath = ANY(%s)").format(ident), (list(removed),))
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "INSERT INTO {} (filepath, emotion, model_version, content_sha256, vector) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (filepath) DO UPDATE SET emotion = EXCLUDED.emotion, "
                    "model_version = EXCLUDED.model_version, content_sha256 = EXCLUDED.content_sha256, "
                    "vector = EXCLUDED.vector, embedded_at = now()"
                ).format(ident),
                [(r.filepath, r.emotion, version, r.content_sha256, r.vector.astype(np.float32)) for r in rows],
            )


def holds_version(conn: psycopg.Connection, version: str, table: str = EXPRESSION_TABLE) -> bool:
    """Whether any row holds ``version``'s vectors (False when the table does not exist): one probe of the
    (emotion, model_version) index (a skip scan on PostgreSQL 18), never a count."""
    if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
        return False
    statement = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE model_version = %s)").format(sql.Identifier(table))
    return conn.execute(statement, (version,)).fetchone()[0]


def seed_filepaths(conn: psycopg.Connection, emotion: str, table: str) -> list[str]:
    """The file paths stored in the seed table for one emotion (the images expression vectors are made for)."""
    rows = conn.execute(
        sql.SQL("SELECT filepath FROM {} WHERE emotion = %s ORDER BY filepath").format(sql.Identifier(table)),
        (emotion,),
    ).fetchall()
    return [path for (path,) in rows]


def expression_vector(
    conn: psycopg.Connection, filepath: str, version: str, table: str = EXPRESSION_TABLE
) -> np.ndarray | None:
    """The expression vector ``version`` made of ``filepath``, None when there is none (yet)."""
    if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
        return None
    row = conn.execute(
        sql.SQL("SELECT vector FROM {} WHERE filepath = %s AND model_version = %s").format(sql.Identifier(table)),
        (filepath, version),
    ).fetchone()
    return None if row is None else row[0].to_numpy()


@dataclass(frozen=True)
class ExpressionCoverage:
    """How one emotion's expression vectors cover its stored images: counts, and a few paths of each fault."""

    replica_rows: int
    vectors: int
    missing: int
    extra: int
    not_served_version: int
    missing_examples: tuple[str, ...]
    extra_examples: tuple[str, ...]
    not_served_examples: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """One vector per stored image, each of the served version."""
        return self.missing == self.extra == self.not_served_version == 0


COVERAGE = """
WITH stored AS (SELECT filepath FROM {seed} WHERE emotion = %(emotion)s),
vectors AS ({vectors})
SELECT
    count(s.filepath),
    count(v.filepath),
    count(*) FILTER (WHERE v.filepath IS NULL),
    count(*) FILTER (WHERE s.filepath IS NULL),
    count(*) FILTER (WHERE v.model_version <> %(version)s),
    (array_agg(s.filepath ORDER BY s.filepath) FILTER (WHERE v.filepath IS NULL))[1:%(examples)s],
    (array_agg(v.filepath ORDER BY v.filepath) FILTER (WHERE s.filepath IS NULL))[1:%(examples)s],
    (array_agg(v.filepath ORDER BY v.filepath) FILTER (WHERE v.model_version <> %(version)s))[1:%(examples)s]
FROM stored s FULL JOIN vectors v ON s.filepath = v.filepath
"""


def expression_coverage(
    conn: psycopg.Connection,
    emotion: str,
    version: str,
    seed_table: str,
    table: str = EXPRESSION_TABLE,
    examples: int = 5,
) -> ExpressionCoverage:
    """Compare one emotion's file paths in ``seed_table`` with its rows in ``table``: rows missing (a stored
    image without a vector), extra (a vector of an image no longer stored), of another version than ``version``
    (the served one). A table that does not exist yet holds no vectors."""
    if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
        vectors = sql.SQL("SELECT NULL::text AS filepath, NULL::text AS model_version WHERE false")
    else:
        vectors = sql.SQL("SELECT filepath, model_version FROM {} WHERE emotion = %(emotion)s").format(
            sql.Identifier(table)
        )
    query = sql.SQL(COVERAGE).format(seed=sql.Identifier(seed_table), vectors=vectors)
    row = conn.execute(query, {"emotion": emotion, "version": version, "examples": examples}).fetchone()
    *counts, missing, extra, stale = row
    return ExpressionCoverage(*counts, tuple(missing or ()), tuple(extra or ()), tuple(stale or ()))
