"""SQL for the ``imagenes_fer`` table: schema, reads, and the atomic partition write.

All statements are composed with ``psycopg.sql`` (identifiers) and bound
parameters (values); no SQL is built by string formatting of data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from fer_platform.embeddings.model import EMBEDDING_DIM

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
COPY_COLUMNS = ("filepath", "emotion", "vector", "content_sha256", "model_id")


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


@dataclass(frozen=True)
class PartitionDelta:
    """What one materialization changes in one emotion partition.

    ``filepaths``/``sha256``/``vectors`` are the rows to (re)write; ``removed``
    are files gone from disk. Rows of files not mentioned are left as they are.
    """

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


def stored_fingerprints(conn: psycopg.Connection, table: str, emotion: str, prefix: str) -> pl.DataFrame:
    """``filepath, sha256, model_id`` of the stored rows of ``emotion`` whose path starts with ``prefix``.

    The prefix (``<split>/<emotion>/``) keeps a train run from touching test rows.
    """
    rows = conn.execute(
        sql.SQL(
            "SELECT filepath, content_sha256, model_id FROM {} WHERE emotion = %s AND starts_with(filepath, %s)"
        ).format(sql.Identifier(table)),
        (emotion, prefix),
    ).fetchall()
    schema = {"filepath": pl.String, "sha256": pl.String, "model_id": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def partition_row_count(conn: psycopg.Connection, table: str, emotion: str, prefix: str = "") -> int:
    """Rows of ``emotion`` (optionally only those whose path starts with ``prefix``)."""
    statement = sql.SQL("SELECT count(*) FROM {} WHERE emotion = %s AND starts_with(filepath, %s)")
    return conn.execute(statement.format(sql.Identifier(table)), (emotion, prefix)).fetchone()[0]


def model_ids(conn: psycopg.Connection, table: str) -> list[str]:
    """The distinct embedding model ids stored in the table."""
    statement = sql.SQL("SELECT DISTINCT model_id FROM {} WHERE model_id IS NOT NULL").format(sql.Identifier(table))
    return [row[0] for row in conn.execute(statement).fetchall()]


def emotion_counts(conn: psycopg.Connection, table: str) -> dict[str, int]:
    """Rows per emotion over the whole table."""
    statement = sql.SQL("SELECT emotion, count(*) FROM {} GROUP BY emotion").format(sql.Identifier(table))
    return dict(conn.execute(statement).fetchall())


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


def write_delta(conn: psycopg.Connection, table: str, delta: PartitionDelta) -> int:
    """Apply ``delta`` in one transaction: either all of it lands or none of it does."""
    stale = list(delta.removed) + list(delta.filepaths)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.partition.{table}.{delta.emotion}",))
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE emotion = %s AND filepath = ANY(%s)").format(sql.Identifier(table)),
            (delta.emotion, stale),
        )
        return copy_rows(conn, table, delta.rows())


# One aggregate row per partition: ids and paths as arrays, and every vector in a single bytea
# (vector_send minus its 4-byte header: big-endian float32) that numpy reinterprets in place,
# so reading a partition costs no per-row Python work.
PARTITION_ARRAYS = """
SELECT coalesce(array_agg(id ORDER BY id), '{{}}'),
       coalesce(array_agg(filepath::text ORDER BY id), '{{}}'),
       coalesce(string_agg(substring(vector_send(vector) FROM 5), ''::bytea ORDER BY id), ''::bytea)
FROM {table} WHERE emotion = %s
"""


def read_partition(conn: psycopg.Connection, table: str, emotion: str) -> pl.DataFrame:
    """``id, emotion, filepath, vector`` (``Array(Float32, 512)``) of one emotion, ordered by id."""
    ids, paths, blob = conn.execute(
        sql.SQL(PARTITION_ARRAYS).format(table=sql.Identifier(table)), (emotion,)
    ).fetchone()
    vectors = np.frombuffer(blob, dtype=">f4").astype(np.float32).reshape(len(ids), EMBEDDING_DIM)
    return pl.DataFrame(
        {
            "id": pl.Series(ids, dtype=pl.Int64),
            "emotion": pl.Series([emotion] * len(ids), dtype=pl.String),
            "filepath": pl.Series(paths, dtype=pl.String),
            "vector": pl.Series(vectors, dtype=pl.Array(pl.Float32, EMBEDDING_DIM)),
        }
    )


def read_partitions(conn: psycopg.Connection, table: str, emotions: Optional[Sequence[str]]) -> pl.DataFrame:
    """The rows of several emotions (None: every emotion in the table), one frame."""
    if emotions is None:
        statement = sql.SQL("SELECT DISTINCT emotion FROM {} ORDER BY 1").format(sql.Identifier(table))
        emotions = [e for (e,) in conn.execute(statement)]
    frames = [read_partition(conn, table, e) for e in emotions]
    return pl.concat(frames) if frames else read_partition(conn, table, "")
