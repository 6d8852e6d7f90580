"""The HNSW index (cosine) on the embeddings, created after loading and rebuilt when the table changed enough.

pgvector keeps an HNSW index up to date on every insert and delete, but a graph
built for one set of rows slowly loses quality as rows are replaced (deleted
nodes linger until vacuum, new ones attach to an older graph). The platform
records each build in ``fer_index_builds`` and rebuilds (``REINDEX ...
CONCURRENTLY``: searches and writes go on) once the rows added or removed since
then exceed ``rebuild_fraction`` of the table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
BUILD_MEMORY = "1GB"  # 11 s instead of 20-33 s for 28,709 rows at the default 64 MB (NOTES.md)
STATE_TABLE = "fer_index_builds"

CREATE_STATE = """
CREATE TABLE IF NOT EXISTS {state} (
    index_name text PRIMARY KEY,
    built_at timestamptz NOT NULL,
    rows_at_build bigint NOT NULL
)
"""


def index_name(table: str) -> str:
    return f"{table}_vector_hnsw"


@dataclass(frozen=True)
class IndexReport:
    """What one maintenance pass did."""

    action: str  # created, rebuilt or kept
    rows: int
    changed_since_build: int
    seconds: float


def changed_since_build(conn: psycopg.Connection, table: str) -> tuple[int, int, bool]:
    """(rows now, rows added or removed since the last recorded build, whether a build is recorded)."""
    ident = sql.Identifier(table)
    row = conn.execute(
        sql.SQL("SELECT built_at, rows_at_build FROM {} WHERE index_name = %s").format(sql.Identifier(STATE_TABLE)),
        (index_name(table),),
    ).fetchone()
    rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]
    if row is None:
        return rows, rows, False
    built_at, rows_at_build = row
    added = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE embedded_at > %s").format(ident), (built_at,)
    ).fetchone()[0]
    removed = max(0, rows_at_build + added - rows)
    return rows, added + removed, True


def build(conn: psycopg.Connection, table: str, exists: bool, m: int, ef_construction: int) -> None:
    """CREATE INDEX or REINDEX, CONCURRENTLY (so outside a transaction), with room to build in memory."""
    name = sql.Identifier(index_name(table))
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(BUILD_MEMORY)))
    if exists:
        conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(name))
    else:
        conn.execute(
            sql.SQL(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} USING hnsw (vector vector_cosine_ops) "
                "WITH (m = {}, ef_construction = {})"
            ).format(name, sql.Identifier(table), sql.Literal(m), sql.Literal(ef_construction))
        )
    conn.execute(sql.SQL("RESET maintenance_work_mem"))


def record_build(conn: psycopg.Connection, table: str, rows: int, started: datetime) -> None:
    """Remember the build; rows embedded after ``started`` count as changes for the next pass."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (index_name, built_at, rows_at_build) VALUES (%s, %s, %s) "
            "ON CONFLICT (index_name) DO UPDATE SET built_at = EXCLUDED.built_at, rows_at_build = EXCLUDED.rows_at_build"
        ).format(sql.Identifier(STATE_TABLE)),
        (index_name(table), started, rows),
    )


def maintain_index(
    conn: psycopg.Connection,
    table: str,
    rebuild_fraction: float = 0.2,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
) -> IndexReport:
    """Create the index if missing, rebuild it if the table changed by more than ``rebuild_fraction``.

    ``conn`` must be in autocommit mode (concurrent index builds cannot run in a transaction).
    """
    start = time.perf_counter()
    conn.execute(sql.SQL(CREATE_STATE).format(state=sql.Identifier(STATE_TABLE)))
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (index_name(table),)).fetchone()[0]
    rows, changed, recorded = changed_since_build(conn, table)
    if exists and recorded and changed <= rebuild_fraction * max(rows, 1):
        return IndexReport("kept", rows, changed, time.perf_counter() - start)
    started = conn.execute("SELECT now()").fetchone()[0]
    build(conn, table, exists, m, ef_construction)
    record_build(conn, table, rows, started)
    return IndexReport("rebuilt" if exists else "created", rows, changed, time.perf_counter() - start)
