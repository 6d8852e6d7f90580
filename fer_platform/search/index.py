"""The HNSW index (cosine) the seed table is searched by: half-precision, built with room and workers, rebuilt
when the table changed enough.

The seed's ``imagenes_fer.vector vector(512)`` stays float32; the index is built on the expression
``vector::halfvec(512)`` (``halfvec_cosine_ops``), which halves what the graph stores per row; queries order
by that expression and re-rank by the float32 distance (``search.query``). Builds get
``FER_INDEX_BUILD_MEMORY`` of ``maintenance_work_mem`` (a graph that does not fit is built far slower) and
``FER_INDEX_BUILD_WORKERS`` parallel workers; a long build logs its phase and progress from
``pg_stat_progress_create_index`` every ``PROGRESS_EVERY_S``.

pgvector keeps the index up to date on every insert and delete, but a graph built for one set of rows slowly
loses quality as rows are replaced. Each build is recorded in ``fer_index_builds`` with the table's churn
(rows inserted plus deleted, maintained by the table's triggers: ``table.aggregates``); the index is rebuilt
(``REINDEX ... CONCURRENTLY``: searches and writes go on) once the churn since the build exceeds
``rebuild_fraction`` of the rows. Deciding reads two maintained figures, never counts the table. An index of
the float32 form (``<table>_vector_hnsw``, made before) is dropped once the halfvec one is built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from fer_platform.search.query import HALFVEC
from fer_platform.table.aggregates import churn, stored

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
BUILD_MEMORY = "1GB"  # 11 s instead of 20-33 s for 28,709 rows at the default 64 MB (NOTES.md)
BUILD_WORKERS = 0
PROGRESS_EVERY_S = 10.0
STATE_TABLE = "fer_index_builds"
CREATE_STATE = """
CREATE TABLE IF NOT EXISTS {state} (
    index_name text PRIMARY KEY,
    built_at timestamptz NOT NULL,
    rows_at_build bigint NOT NULL
);
ALTER TABLE {state} ADD COLUMN IF NOT EXISTS churn_at_build bigint
"""
PROGRESS = """SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total
FROM pg_stat_progress_create_index WHERE pid = %s"""


def index_name(table: str) -> str:
    return f"{table}_halfvec_hnsw"


def float32_index_name(table: str) -> str:
    """The index of the float32 form earlier versions built."""
    return f"{table}_vector_hnsw"


@dataclass(frozen=True)
class IndexReport:
    """What one maintenance pass did."""

    action: str  # created, rebuilt or kept
    rows: int
    changed_since_build: int
    seconds: float


@dataclass(frozen=True)
class BuildSettings:
    """How an index is built: graph parameters, memory and parallel workers."""

    m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION
    memory: str = BUILD_MEMORY
    workers: int = BUILD_WORKERS


def changed_since_build(conn: psycopg.Connection, table: str) -> tuple[int, int, bool]:
    """(rows now, rows added or removed since the last recorded build, whether a build with a churn figure is
    recorded), from the maintained figures."""
    rows = sum(a.rows for a in stored(conn, table).values())
    row = conn.execute(
        sql.SQL("SELECT churn_at_build FROM {} WHERE index_name = %s").format(sql.Identifier(STATE_TABLE)),
        (index_name(table),),
    ).fetchone()
    if row is None or row[0] is None:
        return rows, rows, False
    return rows, churn(conn, table) - row[0], True


def progress_logger(conn: psycopg.Connection, log: Callable[[str], None]) -> tuple[threading.Event, threading.Thread]:
    """A thread logging the build's progress (the backend of ``conn``) from a connection of its own."""
    pid, done = conn.info.backend_pid, threading.Event()
    dsn, password = conn.info.dsn, conn.info.password

    def watch() -> None:
        with psycopg.connect(dsn, password=password, autocommit=True) as watcher:
            while not done.wait(PROGRESS_EVERY_S):
                row = watcher.execute(PROGRESS, (pid,)).fetchone()
                if row is not None:
                    phase, blocks, blocks_total, tuples, tuples_total = row
                    log(f"index build: {phase}; blocks {blocks}/{blocks_total}, tuples {tuples}/{tuples_total}")

    return done, threading.Thread(target=watch, name="index-build-progress", daemon=True)


def build(
    conn: psycopg.Connection, table: str, exists: bool, settings: BuildSettings, log: Callable[[str], None]
) -> None:
    """CREATE INDEX or REINDEX, CONCURRENTLY (so outside a transaction), with the settings' memory and workers,
    its progress logged; then the float32 index of earlier versions is dropped."""
    name = sql.Identifier(index_name(table))
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(settings.memory)))
    conn.execute(sql.SQL("SET max_parallel_maintenance_workers = {}").format(sql.Literal(settings.workers)))
    done, watcher = progress_logger(conn, log)
    watcher.start()
    try:
        if exists:
            conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(name))
        else:
            conn.execute(
                sql.SQL(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} USING hnsw ({} halfvec_cosine_ops) "
                    "WITH (m = {}, ef_construction = {})"
                ).format(name, sql.Identifier(table), sql.SQL(HALFVEC), sql.Literal(settings.m),
                         sql.Literal(settings.ef_construction))
            )
    finally:
        done.set()
        watcher.join()
        conn.execute("RESET maintenance_work_mem")
        conn.execute("RESET max_parallel_maintenance_workers")
    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(float32_index_name(table))))


def record_build(conn: psycopg.Connection, table: str, rows: int, churn_at_build: int) -> None:
    """Remember the build; rows inserted or deleted after it count as changes for the next pass."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (index_name, built_at, rows_at_build, churn_at_build) VALUES (%s, now(), %s, %s) "
            "ON CONFLICT (index_name) DO UPDATE SET built_at = excluded.built_at, "
            "rows_at_build = excluded.rows_at_build, churn_at_build = excluded.churn_at_build"
        ).format(sql.Identifier(STATE_TABLE)),
        (index_name(table), rows, churn_at_build),
    )


def maintain_index(
    conn: psycopg.Connection,
    table: str,
    rebuild_fraction: float = 0.2,
    settings: BuildSettings = BuildSettings(),
    log: Callable[[str], None] = lambda line: None,
) -> IndexReport:
    """Create the index if missing, rebuild it if the churn since its build passed ``rebuild_fraction``.

    ``conn`` must be in autocommit mode (concurrent index builds cannot run in a transaction).
    """
    start = time.perf_counter()
    conn.execute(sql.SQL(CREATE_STATE).format(state=sql.Identifier(STATE_TABLE)))
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (index_name(table),)).fetchone()[0]
    rows, changed, recorded = changed_since_build(conn, table)
    if exists and recorded and changed <= rebuild_fraction * max(rows, 1):
        return IndexReport("kept", rows, changed, time.perf_counter() - start)
    churn_at_build = churn(conn, table)  # rows written during the build count for the next pass
    build(conn, table, exists, settings, log)
    record_build(conn, table, rows, churn_at_build)
    return IndexReport("rebuilt" if exists else "created", rows, changed, time.perf_counter() - start)
