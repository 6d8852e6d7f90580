"""Partition sync source -> replica by delta: the rows logged as changed, moved in one replica transaction.

The source is read in one REPEATABLE READ snapshot. The ids of the emotion logged since the horizon the replica
applied last (``change_log``) are streamed as ``COPY ... (FORMAT BINARY)`` into a temporary table on the
replica, upserted by id, and the logged ids the source no longer holds are deleted; the snapshot's xmin becomes
the new horizon in the same transaction. Rows keep their ids, so the replica is identical, not just equivalent.
After the delta, the maintained aggregates (``table.aggregates``) of both sides are compared, two numbers each;
only when they differ (the first sync, a TRUNCATE, a replica edited by hand) is the partition compared whole.
A kill at any point leaves the previous rows and horizon; a re-run applies the delta once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import psycopg
from psycopg import sql

from fer_platform.table.aggregates import PartitionAggregate, partition_aggregate
from fer_platform.table.change_log import changed_ids, prune, snapshot_horizon

# Every column, in one order on both sides: the replica is a copy, ids included.
COLUMNS = ("id", "filepath", "emotion", "vector", "content_sha256", "model_id", "embedded_at")
SYNC_STATE = "fer_sync_state"
STAGED = "fer_sync_rows"


@dataclass(frozen=True)
class SyncResult:
    """What a partition sync did: ids read from the change log, rows upserted and removed on the replica."""

    source: PartitionAggregate
    changed_ids: int
    copied_rows: int
    removed_rows: int
    compared_whole: bool

    @property
    def skipped(self) -> bool:
        """Nothing had to be written: the replica already held the source's rows."""
        return self.copied_rows == 0 and self.removed_rows == 0


def ensure_sync_state(conn: psycopg.Connection) -> None:
    """The replica's record of the source horizon each partition has applied."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SYNC_STATE} (table_name text NOT NULL, emotion text NOT NULL, "
        "applied_xmin xid8 NOT NULL, synced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (table_name, emotion))"
    )


def _column_list() -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, COLUMNS))


def _id_filter(ids: list[int] | None) -> sql.Composable:
    """``AND id = ANY(...)`` for a delta (ids are ints: a literal array is safe), nothing for a whole partition."""
    if ids is None:
        return sql.SQL("")
    return sql.SQL(" AND id = ANY({}::bigint[])").format(sql.Literal("{" + ",".join(map(str, ids)) + "}"))


def stream_rows(conn: psycopg.Connection, table: str, emotion: str, ids: list[int] | None) -> Iterator[bytes]:
    """The partition's rows (only ``ids`` when given) as raw ``COPY ... TO STDOUT (FORMAT BINARY)`` chunks."""
    query = sql.SQL("COPY (SELECT {} FROM {} WHERE emotion = {}{} ORDER BY id) TO STDOUT (FORMAT BINARY)").format(
        _column_list(), sql.Identifier(table), sql.Literal(emotion), _id_filter(ids)
    )
    with conn.cursor() as cur, cur.copy(query) as copy:
        yield from copy


def apply_rows(
    conn: psycopg.Connection, table: str, emotion: str, ids: list[int] | None, chunks: Iterable[bytes]
) -> tuple[int, int]:
    """Upsert the streamed rows by id and delete the ``ids`` (every row of ``emotion`` for None) that were not
    streamed; returns (copied, removed). Runs inside the caller's transaction."""
    target = sql.Identifier(table)
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(sql.Identifier(STAGED), target))
    copy_in = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(STAGED), _column_list())
    with conn.cursor() as cur, cur.copy(copy_in) as copy:
        for chunk in chunks:
            copy.write(chunk)
    removed = conn.execute(
        sql.SQL("DELETE FROM {} t WHERE emotion = %s{} AND NOT EXISTS (SELECT 1 FROM {} s WHERE s.id = t.id)").format(
            target, _id_filter(ids), sql.Identifier(STAGED)
        ),
        (emotion,),
    ).rowcount
    updates = sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in COLUMNS[1:])
    copied = conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (id) DO UPDATE SET {}").format(
            target, _column_list(), _column_list(), sql.Identifier(STAGED), updates
        )
    ).rowcount
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(STAGED)))
    # Keep the replica's sequence ahead of copied ids, as pg_restore would.
    conn.execute(
        sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), greatest(max(id), 1)) FROM {}").format(target),
        (target.as_string(conn),),
    )
    return copied, removed


def applied_horizon(conn: psycopg.Connection, table: str, emotion: str) -> int | None:
    """The source horizon the replica's partition has applied (None: never synced by delta)."""
    row = conn.execute(
        f"SELECT applied_xmin::text FROM {SYNC_STATE} WHERE table_name = %s AND emotion = %s", (table, emotion)
    ).fetchone()
    return int(row[0]) if row else None


def record_horizon(conn: psycopg.Connection, table: str, emotion: str, horizon: int) -> None:
    """Remember ``horizon`` as applied, in the transaction that applied it."""
    conn.execute(
        f"INSERT INTO {SYNC_STATE} (table_name, emotion, applied_xmin) VALUES (%s, %s, %s::xid8) "
        "ON CONFLICT (table_name, emotion) DO UPDATE SET applied_xmin = excluded.applied_xmin, synced_at = now()",
        (table, emotion, str(horizon)),
    )


def sync_partition(source: psycopg.Connection, replica: psycopg.Connection, table: str, emotion: str) -> SyncResult:
    """Make the replica's rows of ``emotion`` identical to the source's, moving what changed since last time."""
    source.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with source.transaction(), replica.transaction():
        horizon = snapshot_horizon(source)
        wanted = partition_aggregate(source, table, emotion)
        replica.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.replica.{table}.{emotion}",))
        applied = applied_horizon(replica, table, emotion)
        ids = None if applied is None else changed_ids(source, table, emotion, applied)
        copied = removed = 0
        if ids:
            copied, removed = apply_rows(replica, table, emotion, ids, stream_rows(source, table, emotion, ids))
        whole = partition_aggregate(replica, table, emotion) != wanted
        if whole:
            more = apply_rows(replica, table, emotion, None, stream_rows(source, table, emotion, None))
            copied, removed = copied + more[0], removed + more[1]
        record_horizon(replica, table, emotion, horizon)
    prune(source, table, emotion, horizon)
    return SyncResult(wanted, len(ids or ()), copied, removed, whole)
