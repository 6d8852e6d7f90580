"""The ``imagenes_fer`` table's schema, the same on the source and the replica server.

Creating it is idempotent and serialised (an advisory lock), a seed-made table is
upgraded in place, and a table of another vector dimension is refused untouched.
All statements are composed with ``psycopg.sql`` (identifiers) and bound parameters.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from fer_platform.table.aggregates import ensure_aggregates

# The seed's ResNet18 with fc = Identity: every stored vector has this many floats.
EMBEDDING_DIM = 512
DEFAULT_TABLE = "imagenes_fer"
MAX_EMOTION_CHARS = 50  # imagenes_fer.emotion is varchar(50), as in the seed

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    id bigserial PRIMARY KEY,
    filepath varchar(255) NOT NULL,
    emotion varchar(50) NOT NULL,
    vector vector({dim}),
    content_sha256 char(64),
    model_id text,
    embedded_at timestamptz NOT NULL DEFAULT now()
)
"""
# A table created by the seed's script lacks the bookkeeping columns: add them
# (rows without a hash are simply re-embedded) instead of refusing the table.
UPGRADE_TABLE = """
ALTER TABLE {table}
    ADD COLUMN IF NOT EXISTS content_sha256 char(64),
    ADD COLUMN IF NOT EXISTS model_id text,
    ADD COLUMN IF NOT EXISTS embedded_at timestamptz NOT NULL DEFAULT now()
"""
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS {filepath_idx} ON {table} (filepath)",
    "CREATE INDEX IF NOT EXISTS {emotion_idx} ON {table} (emotion)",
)


AZURE_EXTENSION_HELP = (
    "On Azure Database for PostgreSQL, allow the extension first: add VECTOR to the server parameter "
    "azure.extensions (Portal: Server parameters > azure.extensions; CLI: az postgres flexible-server "
    "parameter set -g <resource-group> -s <server> --name azure.extensions --value VECTOR), then retry. "
    "Elsewhere, install pgvector on the server and run CREATE EXTENSION vector as a privileged user."
)


class ExtensionUnavailableError(RuntimeError):
    """``CREATE EXTENSION vector`` failed: not installed, not allow-listed or not permitted."""


class SchemaMismatchError(RuntimeError):
    """The existing table cannot hold our rows; it is reported, never altered destructively."""


def _identifiers(table: str) -> dict[str, sql.Composable]:
    return {
        "table": sql.Identifier(table),
        "filepath_idx": sql.Identifier(f"{table}_filepath_key"),
        "emotion_idx": sql.Identifier(f"{table}_emotion_idx"),
    }


def ensure_table(conn: psycopg.Connection, table: str = DEFAULT_TABLE) -> None:
    """Create the extension, table and indexes if missing; refuse a table of another dimension."""
    ids = _identifiers(table)
    with conn.transaction():
        # Serialise concurrent partition runs creating the same objects.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.schema.{table}",))
        create_vector_extension(conn)
        conn.execute(sql.SQL(CREATE_TABLE).format(table=ids["table"], dim=sql.Literal(EMBEDDING_DIM)))
        check_vector_dimension(conn, table)
        conn.execute(sql.SQL(UPGRADE_TABLE).format(**ids))
        store_vectors_inline(conn, table)
        for statement in INDEXES:
            conn.execute(sql.SQL(statement).format(**ids))
        ensure_aggregates(conn, table)


def store_vectors_inline(conn: psycopg.Connection, table: str) -> None:
    """``SET STORAGE PLAIN`` on the vector column, once: a 2 KB vector would otherwise be TOASTed,
    and exact scans and index heap fetches detoast every row (about half the exact top-10 time)."""
    storage = conn.execute(
        "SELECT attstorage FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'vector'",
        (sql.Identifier(table).as_string(conn),),
    ).fetchone()[0]
    if storage != "p":
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN vector SET STORAGE PLAIN").format(sql.Identifier(table)))


def create_vector_extension(conn: psycopg.Connection) -> None:
    """``CREATE EXTENSION IF NOT EXISTS vector``, turning a refusal into a message that says what to do."""
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        raise ExtensionUnavailableError(
            f"could not create the pgvector extension: {str(exc).strip()}. {AZURE_EXTENSION_HELP}"
        ) from exc


def check_vector_dimension(conn: psycopg.Connection, table: str) -> None:
    """Raise ``SchemaMismatchError`` unless ``table.vector`` is ``vector(512)``."""
    row = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = 'vector' AND NOT attisdropped",
        (sql.Identifier(table).as_string(conn),),
    ).fetchone()
    expected = f"vector({EMBEDDING_DIM})"
    if row is None or row[0] != expected:
        found = row[0] if row else "no column 'vector'"
        raise SchemaMismatchError(
            f"table {table!r} has {found}, expected {expected}; it was left unchanged. "
            f"Point FER_PG_DSN at another database or migrate the table yourself."
        )
