"""A table's change log: which rows of which emotion changed, and in which transaction.

Statement-level triggers append ``(table_name, emotion, id, xid)`` for every row a statement inserted, deleted or
updated (``COPY`` included), in the writer's own transaction: a row change and its log entry commit or vanish
together. A ``TRUNCATE`` (or a restore, ``mark_rewritten``) appends one marker with no emotion and no id, which
sends every partition back to a whole comparison. A consumer reads the ids logged at or after the horizon it
applied last (an index range scan: O(changes), whatever is stored) and prunes what it applied. Two consumers
share this: the replica sync reads the source's log (its horizon in ``fer_sync_state`` on the replica), and the
lake reads the replica's log (its horizon inside the Delta table's commits).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

CHANGES = "fer_row_changes"
OBJECTS = f"""
CREATE TABLE IF NOT EXISTS {CHANGES} (
    table_name text NOT NULL,
    emotion text,
    id bigint,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS {CHANGES}_scope ON {CHANGES} (table_name, emotion, xid);
CREATE OR REPLACE FUNCTION fer_changes_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO {CHANGES} (table_name, emotion, id) SELECT TG_TABLE_NAME, emotion, id FROM old_rows;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO {CHANGES} (table_name, emotion, id) SELECT TG_TABLE_NAME, emotion, id FROM new_rows;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION fer_changes_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {CHANGES} (table_name) VALUES (TG_TABLE_NAME);
    RETURN NULL;
END $$;
"""
TRIGGERS = {
    "insert": "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION fer_changes_record()",
    "delete": "AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION fer_changes_record()",
    "update": "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION fer_changes_record()",
    "truncate": "AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION fer_changes_truncate()",
}


def trigger_name(table: str, kind: str) -> str:
    """The name of one change-log trigger on ``table``."""
    return f"{table}_changes_{kind}"


def ensure_objects(conn: psycopg.Connection) -> None:
    """The log table and the trigger functions (also on a replica that receives a dump of the source table)."""
    conn.execute(OBJECTS)


def ensure_change_log(conn: psycopg.Connection, table: str) -> None:
    """Install the triggers on the source ``table`` once. ``CREATE TRIGGER`` waits for open writers, so every
    write that commits after it is logged; what came before is covered by the sync's first, full comparison."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.changes.{table}",))
        ensure_objects(conn)
        for kind, body in TRIGGERS.items():
            statement = sql.SQL("CREATE OR REPLACE TRIGGER {name} " + body).format(
                name=sql.Identifier(trigger_name(table, kind)), table=sql.Identifier(table)
            )
            conn.execute(statement)


def mark_rewritten(conn: psycopg.Connection, table: str) -> None:
    """Tell every consumer that ``table`` was rewritten outside the log (a ``pg_restore``): compare whole."""
    conn.execute(f"INSERT INTO {CHANGES} (table_name) VALUES (%s)", (table,))


def snapshot_horizon(conn: psycopg.Connection) -> int:
    """The xmin of the current snapshot: every transaction below it has ended, so every change it logged is
    visible now or never; a consumer that applied this snapshot resumes from here (REPEATABLE READ)."""
    return int(conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()[0])


def changed_ids(conn: psycopg.Connection, table: str, emotion: str, since: int) -> list[int] | None:
    """Ids of ``emotion`` logged in transactions at or after the horizon ``since``, as this snapshot sees them;
    None when a TRUNCATE since then means the partition must be compared whole."""
    truncated = conn.execute(
        f"SELECT 1 FROM {CHANGES} WHERE table_name = %s AND emotion IS NULL AND xid >= %s::xid8 LIMIT 1",
        (table, str(since)),
    ).fetchone()
    if truncated:
        return None
    rows = conn.execute(
        f"SELECT DISTINCT id FROM {CHANGES} WHERE table_name = %s AND emotion = %s AND xid >= %s::xid8",
        (table, emotion, str(since)),
    ).fetchall()
    return sorted(row_id for (row_id,) in rows)


def prune(conn: psycopg.Connection, table: str, emotion: str, applied: int) -> int:
    """Forget the entries of ``emotion`` older than the horizon the replica has applied; returns how many."""
    with conn.transaction():
        cur = conn.execute(
            f"DELETE FROM {CHANGES} WHERE table_name = %s AND emotion = %s AND xid < %s::xid8",
            (table, emotion, str(applied)),
        )
    return cur.rowcount
