"""What ``verify_replica`` finds: maintained aggregates that disagree with the rows, partitions that differ
between the servers, both recomputed from the rows (one grouped scan per server, done in the database), and
source rows whose vector is invalid (the landing checks look only at the rows each run wrote). A row deleted to
be repaired is embedded again by the next run of its emotion: the partition's count no longer matches its
manifest, so that run compares the whole folder.

The blocking checks of every sync trust the figures the triggers keep; this is the scheduled proof that they
deserve it. Figures found wrong are replaced by the recomputed ones, so the next sync compares the partition
whole and repairs the replica.
"""

from __future__ import annotations

import psycopg

from fer_platform.table.aggregates import EMPTY, PartitionAggregate, from_rows, recompute, stored
from fer_platform.table.rows import invalid_vectors
from fer_platform.table.schema import EMBEDDING_DIM


def _differences(left: dict[str, PartitionAggregate], right: dict[str, PartitionAggregate]) -> list[str]:
    return sorted(e for e in set(left) | set(right) if left.get(e, EMPTY) != right.get(e, EMPTY))


def describe(aggregate: PartitionAggregate) -> str:
    """Rows and content sum, for a message."""
    return f"{aggregate.rows} rows, sum {aggregate.checksum}"


def stale_figures(conn: psycopg.Connection, table: str, server: str) -> dict[str, str]:
    """``server:emotion`` -> what is wrong, for each emotion whose maintained figures differ from its rows; the
    figures are recomputed when any does."""
    actual, kept = from_rows(conn, table), stored(conn, table)
    found = {
        f"{server}:{e}": f"maintained {describe(kept.get(e, EMPTY))}, rows say {describe(actual.get(e, EMPTY))}"
        for e in _differences(actual, kept)
    }
    if found:
        with conn.transaction():
            recompute(conn, table)
    return found


def server_differences(source: psycopg.Connection, replica: psycopg.Connection, table: str) -> dict[str, str]:
    """emotion -> how the replica's rows differ from the source's (recomputed on both servers)."""
    left, right = from_rows(source, table), from_rows(replica, table)
    return {
        e: f"source {describe(left.get(e, EMPTY))}, replica {describe(right.get(e, EMPTY))}"
        for e in _differences(left, right)
    }


def invalid_rows(source: psycopg.Connection, table: str) -> dict[str, str]:
    """``emotion:path`` -> why, for the first source rows whose vector is missing, zero or not finite."""
    found = invalid_vectors(source, table, EMBEDDING_DIM, limit=100)
    reason = "invalid vector (missing, zero, not finite or not 512 values)"
    return {f"{emotion}:{path}": reason for emotion, path in found}
