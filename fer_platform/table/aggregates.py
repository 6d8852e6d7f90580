"""Per-partition aggregates of the embeddings table, kept by the server in the transactions that change rows.

``fer_partition_aggregates`` holds, per table and emotion, the row count and an order-independent content sum:
the sum of a 60-bit digest per row over file path, emotion and the vector's exact bytes (``fer_row_digest``),
and the churn: rows inserted plus rows deleted so far (an update is both), what index maintenance compares with
the figure it saw at its last build. ``fer_model_counts`` holds the rows per embedding model id, the catalogue
the search service checks requests against. No request, check or index pass counts rows.
Statement-level triggers with transition tables add and subtract the rows each statement inserted, deleted or
updated (``COPY`` included), so the figures change in the same commit as the rows, whoever writes them, and a
check compares two numbers per side instead of reading the partition. ``recompute`` derives them from the rows
again (installing the triggers on a table that already holds rows; ``verify_replica``; after a ``pg_restore``).
Both servers carry the same objects (``schema.ensure_table``).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

AGGREGATES = "fer_partition_aggregates"
MODELS = "fer_model_counts"
ROW_DIGEST = "('x' || substr(md5(convert_to({p} || E'\\n' || {e} || E'\\n', 'UTF8') || vector_send({v})), 1, 15))"
FUNCTIONS = f"""
CREATE TABLE IF NOT EXISTS {AGGREGATES} (
    table_name text NOT NULL,
    emotion text NOT NULL,
    rows bigint NOT NULL,
    content_sum numeric NOT NULL,
    PRIMARY KEY (table_name, emotion)
);
ALTER TABLE {AGGREGATES} ADD COLUMN IF NOT EXISTS churn bigint NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS {MODELS} (
    table_name text NOT NULL,
    model_id text NOT NULL,  -- '' for rows that recorded none
    rows bigint NOT NULL,
    PRIMARY KEY (table_name, model_id)
);
CREATE OR REPLACE FUNCTION fer_row_digest(filepath text, emotion text, vector vector) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN {ROW_DIGEST.format(p="filepath", e="emotion", v="vector")}::bit(60)::bigint;
CREATE OR REPLACE FUNCTION fer_aggregates_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO {AGGREGATES} AS a (table_name, emotion, rows, content_sum, churn)
        SELECT TG_TABLE_NAME, emotion, -count(*), -coalesce(sum(fer_row_digest(filepath, emotion, vector)), 0),
            count(*)
        FROM old_rows GROUP BY emotion
        ON CONFLICT (table_name, emotion) DO UPDATE
        SET rows = a.rows + excluded.rows, content_sum = a.content_sum + excluded.content_sum,
            churn = a.churn + excluded.churn;
        INSERT INTO {MODELS} AS m (table_name, model_id, rows)
        SELECT TG_TABLE_NAME, coalesce(model_id, ''), -count(*) FROM old_rows GROUP BY 2
        ON CONFLICT (table_name, model_id) DO UPDATE SET rows = m.rows + excluded.rows;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO {AGGREGATES} AS a (table_name, emotion, rows, content_sum, churn)
        SELECT TG_TABLE_NAME, emotion, count(*), coalesce(sum(fer_row_digest(filepath, emotion, vector)), 0),
            count(*)
        FROM new_rows GROUP BY emotion
        ON CONFLICT (table_name, emotion) DO UPDATE
        SET rows = a.rows + excluded.rows, content_sum = a.content_sum + excluded.content_sum,
            churn = a.churn + excluded.churn;
        INSERT INTO {MODELS} AS m (table_name, model_id, rows)
        SELECT TG_TABLE_NAME, coalesce(model_id, ''), count(*) FROM new_rows GROUP BY 2
        ON CONFLICT (table_name, model_id) DO UPDATE SET rows = m.rows + excluded.rows;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION fer_aggregates_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {AGGREGATES} SET churn = churn + rows, rows = 0, content_sum = 0 WHERE table_name = TG_TABLE_NAME;
    DELETE FROM {MODELS} WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END $$;
"""
TRIGGERS = (
    "CREATE OR REPLACE TRIGGER {insert} AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION fer_aggregates_apply()",
    "CREATE OR REPLACE TRIGGER {delete} AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION fer_aggregates_apply()",
    "CREATE OR REPLACE TRIGGER {update} AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fer_aggregates_apply()",
    "CREATE OR REPLACE TRIGGER {truncate} AFTER TRUNCATE ON {table} FOR EACH STATEMENT "
    "EXECUTE FUNCTION fer_aggregates_truncate()",
)
FROM_ROWS = """SELECT emotion, count(*), coalesce(sum(fer_row_digest(filepath, emotion, vector)), 0)
FROM {table} WHERE %(emotion)s::text IS NULL OR emotion = %(emotion)s GROUP BY emotion"""


@dataclass(frozen=True)
class PartitionAggregate:
    """Row count and content sum of one emotion in one database."""

    rows: int
    checksum: str


EMPTY = PartitionAggregate(0, "0")


def ensure_functions(conn: psycopg.Connection) -> None:
    """The aggregates table and the functions the triggers call (needs the vector extension)."""
    conn.execute(FUNCTIONS)


def ensure_aggregates(conn: psycopg.Connection, table: str) -> None:
    """Install the triggers on ``table`` once; a table that already holds rows gets its figures computed under a
    lock that keeps writers out until the triggers count for them. Call inside a transaction."""
    ensure_functions(conn)
    installed = conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s",
        (sql.Identifier(table).as_string(conn), f"{table}_aggregates_insert"),
    ).fetchone()[0]
    if installed and (models_counted(conn, table) or not stored(conn, table)):
        return
    conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(table)))
    names = {kind: sql.Identifier(f"{table}_aggregates_{kind}") for kind in ("insert", "delete", "update", "truncate")}
    for statement in TRIGGERS:
        conn.execute(sql.SQL(statement).format(table=sql.Identifier(table), **names))
    recompute(conn, table)


def from_rows(conn: psycopg.Connection, table: str, emotion: str | None = None) -> dict[str, PartitionAggregate]:
    """The figures derived from the rows themselves (a scan of the partition, or of the table for None)."""
    statement = sql.SQL(FROM_ROWS).format(table=sql.Identifier(table))
    rows = conn.execute(statement, {"emotion": emotion}).fetchall()
    return {e: PartitionAggregate(int(n), str(total)) for e, n, total in rows}


def recompute(conn: psycopg.Connection, table: str) -> None:
    """Replace the stored figures of ``table`` by the ones derived from its rows (the churn carries on)."""
    conn.execute(f"UPDATE {AGGREGATES} SET rows = 0, content_sum = 0 WHERE table_name = %s", (table,))
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {AGGREGATES} AS a (table_name, emotion, rows, content_sum) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (table_name, emotion) DO UPDATE SET rows = excluded.rows, content_sum = excluded.content_sum",
            [(table, e, a.rows, a.checksum) for e, a in from_rows(conn, table).items()],
        )
    conn.execute(f"DELETE FROM {MODELS} WHERE table_name = %s", (table,))
    conn.execute(
        sql.SQL(
            f"INSERT INTO {MODELS} (table_name, model_id, rows) "
            "SELECT %s, coalesce(model_id, ''), count(*) FROM {} GROUP BY 2"
        ).format(sql.Identifier(table)),
        (table,),
    )


def models_counted(conn: psycopg.Connection, table: str) -> bool:
    """Whether ``fer_model_counts`` counts ``table`` (tables counted before it existed are recounted once)."""
    return conn.execute(f"SELECT EXISTS (SELECT 1 FROM {MODELS} WHERE table_name = %s)", (table,)).fetchone()[0]


def model_counts(conn: psycopg.Connection, table: str) -> dict[str | None, int]:
    """Rows per embedding model id (None: rows that recorded none), as maintained: one small read."""
    rows = conn.execute(f"SELECT model_id, rows FROM {MODELS} WHERE table_name = %s AND rows <> 0", (table,))
    return {model_id or None: int(n) for model_id, n in rows.fetchall()}


def churn(conn: psycopg.Connection, table: str) -> int:
    """Rows inserted plus rows deleted in ``table`` so far, as maintained."""
    row = conn.execute(f"SELECT coalesce(sum(churn), 0) FROM {AGGREGATES} WHERE table_name = %s", (table,))
    return int(row.fetchone()[0])


def stored(conn: psycopg.Connection, table: str, emotion: str | None = None) -> dict[str, PartitionAggregate]:
    """The maintained figures (one index lookup per emotion; every emotion of the table for None)."""
    rows = conn.execute(
        f"SELECT emotion, rows, content_sum FROM {AGGREGATES} WHERE table_name = %(table)s "
        f"AND (%(emotion)s::text IS NULL OR emotion = %(emotion)s) AND rows <> 0",
        {"table": table, "emotion": emotion},
    ).fetchall()
    return {e: PartitionAggregate(int(n), str(total)) for e, n, total in rows}


def partition_aggregate(conn: psycopg.Connection, table: str, emotion: str) -> PartitionAggregate:
    """The maintained figures of one emotion (zero rows when it has none)."""
    return stored(conn, table, emotion).get(emotion, EMPTY)
