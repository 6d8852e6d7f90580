"""``fer_manifest_changes``: which files of a folder a scan found new, changed or gone, and in which transaction.

``raw_images`` appends one entry per file it read (``usable``: it decodes) and per file gone, in the commit that
stores the manifest, so a landing of k files logs k entries. The stages that mirror the images (the upload to
the source container, the copy into the lake) read the entries at or after the horizon they applied last (an
index range scan: O(changes), whatever the folder holds) instead of listing both sides, and re-apply at worst
what a crash left unconfirmed (an upload or a delete done twice changes nothing). Horizons are transaction ids
(``table.change_log.snapshot_horizon``), so a scan that commits late is never skipped; each consumer's is kept
in ``fer_manifest_consumers``, and the entries all of them applied are pruned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import psycopg

from fer_platform.table.change_log import snapshot_horizon

LOG = "fer_manifest_changes"
CREATE = f"""CREATE TABLE IF NOT EXISTS {LOG} (
    scope text NOT NULL,
    filepath text NOT NULL,
    usable boolean NOT NULL,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS {LOG}_scope ON {LOG} (scope, xid);
CREATE TABLE IF NOT EXISTS fer_manifest_consumers (
    consumer text NOT NULL,
    scope text NOT NULL,
    horizon bigint NOT NULL,
    previous bigint,
    tag text,
    PRIMARY KEY (consumer, scope)
)"""


def ensure_manifest_log(conn: psycopg.Connection) -> None:
    conn.execute(CREATE)


def log_changes(conn: psycopg.Connection, scope: str, read: Iterable[tuple[str, bool]], gone: Iterable[str]) -> None:
    """Append the files a scan of ``scope`` read (path, usable) and those gone, in the caller's transaction."""
    ensure_manifest_log(conn)
    rows = chain(((scope, path, usable) for path, usable in read), ((scope, path, False) for path in gone))
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {LOG} (scope, filepath, usable) VALUES (%s, %s, %s)", rows)


def changes_since(conn: psycopg.Connection, scope: str, since: int) -> dict[str, bool]:
    """Path -> usable now (False: gone or undecodable), for the files of ``scope`` logged at or after ``since``;
    a path's newest entry wins."""
    ensure_manifest_log(conn)
    rows = conn.execute(
        f"SELECT DISTINCT ON (filepath) filepath, usable FROM {LOG} WHERE scope = %s AND xid >= %s::xid8 "
        f"ORDER BY filepath, xid DESC",
        (scope, str(since)),
    ).fetchall()
    return dict(rows)


@dataclass(frozen=True)
class Applied:
    """How far a consumer has applied a folder's log: its horizon, the one before (what its last run covered
    starts there; None after a whole pass) and a tag of what it applied with (the embedding model)."""

    horizon: int
    previous: int | None
    tag: str | None


def applied(conn: psycopg.Connection, consumer: str, scope: str) -> Applied | None:
    """The consumer's state for the folder; None before its first run (it then goes over the whole folder)."""
    ensure_manifest_log(conn)
    row = conn.execute(
        "SELECT horizon, previous, tag FROM fer_manifest_consumers WHERE consumer = %s AND scope = %s",
        (consumer, scope),
    ).fetchone()
    return Applied(int(row[0]), None if row[1] is None else int(row[1]), row[2]) if row else None


def pending(
    conn: psycopg.Connection, consumer: str, scope: str, tag: str | None = None
) -> tuple[int, dict[str, bool] | None]:
    """The horizon the consumer records once it has applied this run (taken first: what is logged later is the
    next run's), and the changes logged since its last run; None when it must go over the whole folder (it
    never ran, or ran with another ``tag``)."""
    conn.commit()
    horizon = snapshot_horizon(conn)
    done = applied(conn, consumer, scope)
    if done is None or done.tag != tag:
        return horizon, None
    return horizon, changes_since(conn, scope, done.horizon)


def advance(
    conn: psycopg.Connection, consumer: str, scope: str, horizon: int, whole: bool, tag: str | None = None
) -> None:
    """Record that the consumer applied the folder's log up to ``horizon`` (``whole``: by a pass over the whole
    folder), then forget the entries every consumer of the folder has applied. A consumer that never ran goes
    over the whole folder on its first run, so it needs none of them."""
    ensure_manifest_log(conn)
    conn.execute(
        "INSERT INTO fer_manifest_consumers AS c (consumer, scope, horizon, previous, tag) "
        "VALUES (%(consumer)s, %(scope)s, %(horizon)s, NULL, %(tag)s) ON CONFLICT (consumer, scope) DO UPDATE SET "
        "previous = CASE WHEN %(whole)s THEN NULL ELSE c.horizon END, horizon = excluded.horizon, tag = excluded.tag",
        {"consumer": consumer, "scope": scope, "horizon": horizon, "tag": tag, "whole": whole},
    )
    lowest = conn.execute(  # a consumer's last run stays readable (its checks look at what it covered)
        "SELECT min(coalesce(previous, horizon)) FROM fer_manifest_consumers WHERE scope = %s", (scope,)
    ).fetchone()[0]
    conn.execute(f"DELETE FROM {LOG} WHERE scope = %s AND xid < %s::xid8", (scope, str(lowest)))


def last_run_changes(conn: psycopg.Connection, consumer: str, scope: str) -> dict[str, bool] | None:
    """Path -> usable, for the files the consumer's last run applied; None when that run went over the whole
    folder (or none ran): the checks that follow it then look at everything."""
    done = applied(conn, consumer, scope)
    if done is None or done.previous is None:
        return None
    return changes_since(conn, scope, done.previous)
