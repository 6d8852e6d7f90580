"""A partition's plan, made and kept by PostgreSQL: which rows of the embeddings table one run rewrites and which
it deletes, so that the step holds a page of contents at a time whatever the partition holds.

The embeddings stage compares a folder's stored manifest (one row per file: its content hash, and why it does not
decode) with the table's rows of the same folder, by path: all of them, or only the paths the manifest log named
(``Comparison``). ``stage_plan`` freezes the outcome under the run's key in ``fer_planned_rows``: a row to (re)write
carries its content hash, a row to delete (its file is gone) none; it returns the counts a person checks. The run
computes the vectors the store lacks a page of contents at a time (``contents_page``), takes back the rows
whose file the model could not read (``unplan``), and the IO manager applies the plan in one transaction
(``write_planned``): the server deletes, then inserts the rows with their vectors taken from the vector store.
The plan is fixed once staged: files that land meanwhile are the next run's (the manifest log keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from fer_platform.postgres.connection import require_idle
from fer_platform.table.rows import lock_partition

PLANNED = "fer_planned_rows"
CREATE = f"""CREATE TABLE IF NOT EXISTS {PLANNED} (
    plan text NOT NULL,
    filepath text NOT NULL,
    content_sha256 char(64),
    planned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan, filepath)
);
CREATE INDEX IF NOT EXISTS {PLANNED}_content ON {PLANNED} (plan, content_sha256);
CREATE INDEX IF NOT EXISTS {PLANNED}_age ON {PLANNED} (planned_at)"""
ABANDONED_AFTER = "7 days"  # a plan no write applied (its run died): dropped when another is staged
SIDES = """
WITH m AS (SELECT filepath, sha256, error FROM {manifest} WHERE {manifest_rows}),
t AS (SELECT filepath::text AS filepath, content_sha256::text AS sha256, model_id FROM {table}
      WHERE emotion = %(emotion)s AND starts_with(filepath, %(scope)s){only}),
j AS (SELECT m.filepath AS listed, t.filepath AS stored, m.sha256, m.error, t.sha256 AS stored_sha256, t.model_id
      FROM m FULL JOIN t ON t.filepath = m.filepath),
staged AS (INSERT INTO {planned} (plan, filepath, content_sha256)
    SELECT %(plan)s, coalesce(listed, stored), CASE WHEN listed IS NOT NULL THEN sha256 END FROM j
    WHERE listed IS NULL OR error IS NULL AND (stored IS NULL OR stored_sha256 IS DISTINCT FROM sha256
                                                OR model_id IS DISTINCT FROM %(model_id)s))
SELECT count(*) FILTER (WHERE usable AND stored IS NULL),
       count(*) FILTER (WHERE usable AND stored IS NOT NULL AND stored_sha256 IS DISTINCT FROM sha256),
       count(*) FILTER (WHERE usable AND stored_sha256 = sha256 AND model_id IS DISTINCT FROM %(model_id)s),
       count(*) FILTER (WHERE usable AND stored_sha256 = sha256 AND model_id = %(model_id)s),
       count(*) FILTER (WHERE listed IS NULL),
       count(*) FILTER (WHERE listed IS NOT NULL AND error IS NOT NULL)
FROM (SELECT *, listed IS NOT NULL AND error IS NULL AS usable FROM j) compared
"""
TO_COMPUTE = f"""
SELECT p.content_sha256::text, min(p.filepath) FROM {PLANNED} p
WHERE p.plan = %(plan)s AND p.content_sha256 > %(after)s::bpchar AND NOT EXISTS (
    SELECT FROM {{store}} v WHERE v.content_sha256 = p.content_sha256 AND v.model_id = %(model_id)s)
GROUP BY p.content_sha256 ORDER BY p.content_sha256 LIMIT %(page)s
"""
CONTENTS_PAGE = 16_384  # contents (and one path each) a page names: a few MB
INSERT = """
INSERT INTO {table} (filepath, emotion, vector, content_sha256, model_id)
SELECT p.filepath, %(emotion)s, v.vector, p.content_sha256, %(model_id)s
FROM {planned} p JOIN {store} v ON v.content_sha256 = p.content_sha256 AND v.model_id = %(model_id)s
WHERE p.plan = %(plan)s ORDER BY p.filepath
"""
ABSENT = """
SELECT p.filepath FROM {planned} p WHERE p.plan = %(plan)s AND p.content_sha256 IS NOT NULL AND NOT EXISTS (
    SELECT FROM {store} v WHERE v.content_sha256 = p.content_sha256 AND v.model_id = %(model_id)s
) ORDER BY p.filepath LIMIT 5
"""


class MissingVectorsError(LookupError):
    """Rows of a plan whose vector the store no longer holds (another model's run emptied it), or a plan no
    longer staged: nothing is written."""


@dataclass(frozen=True)
class Comparison:
    """What a partition's plan compares: the manifest table's rows of ``scope`` against the embeddings table's
    (``only``: just those paths, what the manifest log named since the last run)."""

    manifest: str
    table: str
    emotion: str
    scope: str
    model_id: str
    only: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PlanCounts:
    """Files of the comparison by what the run does with them."""

    new: int = 0
    changed: int = 0
    model_changed: int = 0
    unchanged: int = 0
    removed: int = 0
    undecodable: int = 0

    @property
    def to_write(self) -> int:
        """Rows whose vector is (re)written."""
        return self.new + self.changed + self.model_changed

    @property
    def compared(self) -> int:
        return self.to_write + self.unchanged + self.removed + self.undecodable


@dataclass(frozen=True)
class PlannedDelta:
    """What ``embeddings_table`` hands its IO manager: the key of a staged plan, and the table holding the vectors
    by ``(content_sha256, model_id)`` (the vector store). ``covers``, when set: what of the folder's manifest log
    the plan accounts for (scope, horizon, whether it compared the whole folder), recorded with the rows."""

    plan: str
    emotion: str
    model_id: str
    vectors_from: str
    rows: int  # rows staged under ``plan``: what the write finds, or it refuses
    covers: tuple[str, int, bool] | None = None


def scoped(comparison: Comparison) -> tuple[sql.Composable, sql.Composable, dict]:
    """The manifest side's condition, the table side's path condition, and the statement parameters. With
    ``only``, the manifest's rows are looked up by primary key alone (given the emotion too, the planner may walk
    the emotion's whole index, as ``stored_manifest.read_manifest`` says)."""
    by_path = comparison.only is not None
    manifest_rows = "filepath = ANY(%(only)s)" if by_path else "emotion = %(emotion)s"
    only = sql.SQL(" AND filepath = ANY(%(only)s)" if by_path else "")
    params = {"emotion": comparison.emotion, "scope": comparison.scope, "model_id": comparison.model_id,
              "only": list(comparison.only) if by_path else None}
    return sql.SQL(manifest_rows + " AND starts_with(filepath, %(scope)s)"), only, params


def ensure_planned(conn: psycopg.Connection) -> None:
    """Create ``fer_planned_rows`` when missing, in a transaction of its own under an advisory lock: a
    ``CREATE INDEX IF NOT EXISTS`` locks the table even when the index exists, so no step's transaction runs one."""
    with conn.transaction():
        if conn.execute("SELECT to_regclass(%s)", (PLANNED,)).fetchone()[0] is None:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fer_platform.schema.{PLANNED}",))
            conn.execute(CREATE)


def stage_plan(conn: psycopg.Connection, plan: str, comparison: Comparison) -> PlanCounts:
    """Stage the plan of ``comparison`` under ``plan`` (replacing one of the same key: a retried step) and
    commit it, dropping plans abandoned ``ABANDONED_AFTER`` ago; the counts of what it found."""
    require_idle(conn)
    ensure_planned(conn)
    manifest_rows, only, params = scoped(comparison)
    statement = sql.SQL(SIDES).format(
        manifest=sql.Identifier(comparison.manifest), table=sql.Identifier(comparison.table),
        planned=sql.Identifier(PLANNED), manifest_rows=manifest_rows, only=only,
    )
    with conn.transaction():
        conn.execute(f"DELETE FROM {PLANNED} WHERE plan = %s", (plan,))
        conn.execute(f"DELETE FROM {PLANNED} WHERE planned_at < now() - %s::interval", (ABANDONED_AFTER,))
        return PlanCounts(*conn.execute(statement, params | {"plan": plan}).fetchone())


def drop_plan(conn: psycopg.Connection, plan: str) -> None:
    """Drop a plan no write will apply (its run failed after staging it), in a transaction of its own."""
    with conn.transaction():
        conn.execute(f"DELETE FROM {PLANNED} WHERE plan = %s", (plan,))


def undecodable(conn: psycopg.Connection, comparison: Comparison, limit: int) -> dict[str, str]:
    """Up to ``limit`` files of the comparison that do not decode, and why."""
    manifest_rows, _, params = scoped(comparison)
    statement = sql.SQL(
        "SELECT filepath, error FROM {} WHERE {} AND error IS NOT NULL ORDER BY filepath LIMIT %(limit)s"
    ).format(sql.Identifier(comparison.manifest), manifest_rows)
    with conn.transaction():
        return dict(conn.execute(statement, params | {"limit": limit}).fetchall())


def contents_page(conn: psycopg.Connection, delta: PlannedDelta, after: str = "") -> dict[str, str]:
    """The next page of the plan's contents the store holds no vector of, after the content hash ``after`` (the
    last key of the page before: a content the model could not read is not asked for again): content sha256 ->
    one of its paths, in the hashes' order; empty when none is left."""
    statement = sql.SQL(TO_COMPUTE).format(store=sql.Identifier(delta.vectors_from))
    params = {"plan": delta.plan, "model_id": delta.model_id, "page": CONTENTS_PAGE, "after": after}
    with conn.transaction():
        return dict(conn.execute(statement, params).fetchall())


def unplan(conn: psycopg.Connection, delta: PlannedDelta, contents: list[str]) -> list[str]:
    """Take the rows of ``contents`` (the model could not read them) out of the plan: their stored rows stay as
    they are. Returns the paths of the rows that left the plan (every file holding those bytes)."""
    with conn.transaction():
        rows = conn.execute(
            f"DELETE FROM {PLANNED} WHERE plan = %s AND content_sha256 = ANY(%s::bpchar[]) RETURNING filepath",
            (delta.plan, contents),
        ).fetchall()
    return sorted(path for (path,) in rows)


def write_planned(conn: psycopg.Connection, table: str, delta: PlannedDelta) -> int:
    """Apply the staged plan in the caller's transaction (all of it or none): delete the rows it names, insert
    the rows to write with their vectors joined from the store by the server, drop the plan. A plan no longer
    staged whole, or a row whose vector left the store, fails the write."""
    lock_partition(conn, table, delta.emotion)
    names = {"table": sql.Identifier(table), "planned": sql.Identifier(PLANNED),
             "store": sql.Identifier(delta.vectors_from)}
    params = {"plan": delta.plan, "emotion": delta.emotion, "model_id": delta.model_id}
    staged, to_write = conn.execute(
        f"SELECT count(*), count(content_sha256) FROM {PLANNED} WHERE plan = %(plan)s", params
    ).fetchone()
    if staged != delta.rows:
        raise MissingVectorsError(
            f"the plan {delta.plan} holds {staged} rows, not the {delta.rows} its run staged: nothing was written; "
            f"run again"
        )
    conn.execute(
        sql.SQL("DELETE FROM {table} t USING {planned} p WHERE p.plan = %(plan)s AND t.emotion = %(emotion)s "
                "AND t.filepath = p.filepath").format(**names), params,
    )
    written = conn.execute(sql.SQL(INSERT).format(**names), params).rowcount
    if written != to_write:
        absent = [path for (path,) in conn.execute(sql.SQL(ABSENT).format(**names), params)]
        raise MissingVectorsError(
            f"{to_write - written} of the {to_write} rows to write have no vector of model {delta.model_id} in "
            f"{delta.vectors_from} (e.g. {', '.join(absent)}): nothing was written; run again"
        )
    conn.execute(f"DELETE FROM {PLANNED} WHERE plan = %(plan)s", params)
    return written
