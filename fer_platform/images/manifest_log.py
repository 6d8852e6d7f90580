"""``fer_manifest_changes``: which files of a folder a scan found new, changed or gone, and in which transaction.

``raw_images`` appends one entry per file it read (``usable``: it decodes) and per file gone, in the commit that
stores the manifest, so a landing of k files logs k entries. The stages that mirror the images (the upload to
the source container, the copy into the lake) read the entries at or after the horizon they applied last (an
index range scan: O(changes), whatever the folder holds) instead of listing both sides, and re-apply at worst
what a crash left unconfirmed (an upload or a delete done twice changes nothing). Horizons are transaction ids
(``table.change_log.snapshot_horizon``), so a scan that commits late is never skipped.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

LOG = "fer_manifest_changes"
CREATE = f"""CREATE TABLE IF NOT EXISTS {LOG} (
    scope text NOT NULL,
    filepath text NOT NULL,
    usable boolean NOT NULL,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS {LOG}_scope ON {LOG} (scope, xid)"""


def ensure_manifest_log(conn: psycopg.Connection) -> None:
    conn.execute(CREATE)


def log_changes(conn: psycopg.Connection, scope: str, read: Iterable[tuple[str, bool]], gone: Iterable[str]) -> None:
    """Append the files a scan of ``scope`` read (path, usable) and those gone, in the caller's transaction."""
    ensure_manifest_log(conn)
    rows = [(scope, path, usable) for path, usable in read] + [(scope, path, False) for path in gone]
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


def prune(conn: psycopg.Connection, scope: str, applied: int) -> int:
    """Forget the entries of ``scope`` older than ``applied`` (the lowest horizon of its consumers)."""
    ensure_manifest_log(conn)
    return conn.execute(f"DELETE FROM {LOG} WHERE scope = %s AND xid < %s::xid8", (scope, str(applied))).rowcount
