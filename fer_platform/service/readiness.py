"""Is the replica ready to serve? Checked when ``serve`` starts and by ``/healthz``: reachable, with the
``vector`` extension, with ``imagenes_fer`` rows, every one embedded by the model that embeds the queries. Each
answer names the server (never its password) and the command or setting that fixes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import psycopg
from psycopg import sql

from fer_platform.embeddings.model import LoadedModel, WeightsUnavailableError, settings_for
from fer_platform.factory import Platform
from fer_platform.postgres.connection import error_line
from fer_platform.postgres.dsn import describe

CHECK_TIMEOUT_S = 2
FIX = "materialize azure_replica (job fer_pipeline, or `fer-platform demo`) first"
REEMBED = "re-embed with job embed_images (then fer_pipeline's azure_replica)"


class ServiceNotReadyError(RuntimeError):
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


def model_problem(stored: dict[str | None, int], query_model_id: str, table: str) -> str | None:
    """None when every stored row was embedded by the query model (vectors of two models are not comparable:
    the answers would look normal and mean nothing), else one line naming the ids, the counts and the fix."""
    if set(stored) <= {query_model_id}:
        return None
    if len(stored) > 1:
        counts = ", ".join(f"{n} rows of {model or 'no recorded model'}" for model, n in sorted(stored.items(), key=str))
        return (
            f"the replica's {table} mixes embedding models ({counts}) and queries are embedded with "
            f"{query_model_id}: {REEMBED} so that one model made every row"
        )
    (stored_id,) = stored
    return (
        f"the replica's {table} was embedded with {stored_id or 'no recorded model'}, but queries would be embedded "
        f"with {query_model_id}: set {settings_for(stored_id)} to search it, or {REEMBED} with the query model"
    )


@dataclass(frozen=True)
class Catalogue:
    """What the replica's table holds, as the service checks requests against it."""

    emotions: dict[str, int]  # rows per emotion
    models: dict[str | None, int]  # rows per embedding model id


def query_model(platform: Platform, stored_ids: Iterable[str | None]) -> tuple[LoadedModel | None, str | None]:
    """The model that embeds queries, loaded at start (never lazily at the first request), or why it cannot be."""
    try:
        return platform.query_model(stored_ids), None
    except WeightsUnavailableError as exc:
        return None, f"the query model cannot be loaded: {exc}"
