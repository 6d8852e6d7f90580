"""Is the replica ready to serve? Checked when ``serve`` starts and by ``/healthz``: reachable, with the
``vector`` extension, with ``imagenes_fer`` rows. Each answer names the server (never its password) and the
command that fixes it."""

from __future__ import annotations

import psycopg
from psycopg import sql

from fer_platform.postgres.connection import error_line
from fer_platform.postgres.dsn import describe

CHECK_TIMEOUT_S = 2
FIX = "materialize azure_replica (job fer_pipeline, or `fer-platform demo`) first"


class ReplicaNotReadyError(RuntimeError):
    """``serve`` refuses to start (without ``--wait``): the message is the reason."""


def content_problem(conn: psycopg.Connection, server: str, table: str) -> str | None:
    """None when the database behind ``conn`` holds what the service reads, else one line saying what is missing."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
        return f"the replica {server} has no vector extension: {FIX}"
    if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
        return f"the replica {server} has no {table} table: {FIX}"
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
    if not conn.execute(query).fetchone()[0]:
        return f"the replica {server} has no {table} rows: {FIX}"
    return None


def replica_problem(dsn: str, table: str) -> str | None:
    """None when the replica can serve, else one line saying why not, from a connection of its own (so that an
    unreachable server is named with the reason libpq gives)."""
    server = describe(dsn)
    try:
        with psycopg.connect(dsn, connect_timeout=CHECK_TIMEOUT_S) as conn:
            return content_problem(conn, server, table)
    except psycopg.OperationalError as exc:
        return f"the replica {server} is unreachable ({error_line(exc)}): start it, or point FER_REPLICA_DSN at it"
