"""Partition sync source -> replica: a binary COPY stream replayed in one replica transaction.

Rows keep their ids, so source and replica are identical, not just equivalent.
A partition whose checksum already matches is left alone (idempotent and
cheap); otherwise the replica's rows for that emotion are replaced as a whole,
inside one transaction, so a failure mid-stream leaves the previous rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import psycopg
from psycopg import sql

# Every column, in one order on both sides: the replica is a copy, ids included.
COLUMNS = ("id", "filepath", "emotion", "vector", "content_sha256", "model_id", "embedded_at")

# Order-independent content checksum: the sum of a 60-bit hash per row over
# file path, emotion and the vector's exact bytes (vector_send), plus the count.
CHECKSUM = """
SELECT count(*),
       coalesce(sum(('x' || substr(md5(
           convert_to(filepath || E'\\n' || emotion || E'\\n', 'UTF8') || vector_send(vector)
       ), 1, 15))::bit(60)::bigint), 0)::text
FROM {table} WHERE emotion = %s
"""


@dataclass(frozen=True)
class PartitionChecksum:
    """Row count and content checksum of one emotion in one database."""

    rows: int
    checksum: str


@dataclass(frozen=True)
class SyncResult:
    """What a partition sync did."""

    source: PartitionChecksum
    copied_rows: int
    skipped: bool


def partition_checksum(conn: psycopg.Connection, table: str, emotion: str) -> PartitionChecksum:
    """The partition's row count and order-independent checksum."""
    rows, checksum = conn.execute(sql.SQL(CHECKSUM).format(table=sql.Identifier(table)), (emotion,)).fetchone()
    return PartitionChecksum(rows=rows, checksum=checksum)


def _column_list() -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, COLUMNS))


def stream_partition(conn: psycopg.Connection, table: str, emotion: str) -> Iterator[bytes]:
    """The partition as raw ``COPY ... TO STDOUT (FORMAT BINARY)`` chunks."""
    query = sql.SQL("COPY (SELECT {} FROM {} WHERE emotion = {} ORDER BY id) TO STDOUT (FORMAT BINARY)").format(
        _column_list(), sql.Identifier(table), sql.Literal(emotion)
    )
    with conn.cursor() as cur, cur.copy(query) as copy:
        yield from copy


def replace_partition(conn: psycopg.Connection, table: str, emotion: str, chunks: Iterable[bytes]) -> None:
    """In one transaction: delete the replica's rows of ``emotion`` and load ``chunks`` in their place."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.replica.{table}.{emotion}",))
        conn.execute(sql.SQL("DELETE FROM {} WHERE emotion = %s").format(sql.Identifier(table)), (emotion,))
        copy_in = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table), _column_list())
        with conn.cursor() as cur, cur.copy(copy_in) as copy:
            for chunk in chunks:
                copy.write(chunk)
        # Keep the replica's sequence ahead of copied ids, as pg_restore would.
        conn.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), greatest(max(id), 1)) FROM {}").format(
                sql.Identifier(table)
            ),
            (sql.Identifier(table).as_string(conn),),
        )


def sync_partition(source: psycopg.Connection, replica: psycopg.Connection, table: str, emotion: str) -> SyncResult:
    """Make the replica's rows of ``emotion`` identical to the source's.

    The source is read in one REPEATABLE READ snapshot, so the checksum describes
    exactly the rows streamed even while the source is being written.
    """
    source.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with source.transaction():
        wanted = partition_checksum(source, table, emotion)
        if partition_checksum(replica, table, emotion) == wanted:
            return SyncResult(source=wanted, copied_rows=0, skipped=True)
        replace_partition(replica, table, emotion, stream_partition(source, table, emotion))
    return SyncResult(source=wanted, copied_rows=wanted.rows, skipped=False)
