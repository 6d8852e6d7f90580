"""``fer_landed_paths``: what a landing run wrote into an emotion folder, for the same run's scan.

``landed_images`` records, per run and folder, the folder's mtime just before its first write (before copying),
then the paths it copied and the folder's mtime just after its last. ``raw_images`` of the same run then stats
and reads those files only (``scan.update_landed``) when the folder's mtimes show that nothing else changed it:
a landing of k blobs costs k reads, whatever the folder holds. Without a record (a run started by hand from a
later step, a re-execution) the scan lists the folder, as it does for runs of the image-root sensor. Records
older than a week are pruned.

``new_images_sensor`` reads the newest record of each changed folder: a folder whose change is the landing of a
run still in flight (the record starts at the folder's mark, and ends at its mtime now or has not ended) is that
run's to read, so no second run is asked for it (``changes.being_landed``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

TABLE = "fer_landed_paths"
CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id text NOT NULL,
    scope text NOT NULL,
    paths text[] NOT NULL,
    mtime_before bigint,
    mtime_after bigint,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, scope)
);
CREATE INDEX IF NOT EXISTS {TABLE}_newest ON {TABLE} (scope, recorded_at)"""
KEEP = "7 days"


@dataclass(frozen=True)
class LandedPaths:
    """The paths one run landed in a folder, and the folder's mtime before (None: no folder yet) and after (None:
    still copying)."""

    paths: list[str]
    mtime_before: int | None
    mtime_after: int | None = None


def folder_mtime(folder: Path) -> int | None:
    """The folder's mtime in ns; None when it does not exist yet."""
    try:
        return os.stat(folder).st_mtime_ns
    except FileNotFoundError:
        return None


def record_landed(conn: psycopg.Connection, run_id: str, scope: str, landed: LandedPaths) -> None:
    """Keep what the run ``run_id`` landed in ``scope`` (a repeated record of the same run replaces it)."""
    conn.execute(CREATE)
    conn.execute(f"DELETE FROM {TABLE} WHERE recorded_at < now() - interval '{KEEP}'")
    conn.execute(
        f"INSERT INTO {TABLE} (run_id, scope, paths, mtime_before, mtime_after) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (run_id, scope) DO UPDATE SET paths = excluded.paths, mtime_before = excluded.mtime_before, "
        "mtime_after = excluded.mtime_after, recorded_at = now()",
        (run_id, scope, landed.paths, landed.mtime_before, landed.mtime_after),
    )


def newest_landings(conn: psycopg.Connection, scopes: list[str]) -> dict[str, tuple[str, LandedPaths]]:
    """scope -> (run id, what it landed) of the newest landing recorded for each of ``scopes``."""
    conn.execute(CREATE)
    rows = conn.execute(
        f"SELECT DISTINCT ON (scope) scope, run_id, paths, mtime_before, mtime_after FROM {TABLE} "
        "WHERE scope = ANY(%s) ORDER BY scope, recorded_at DESC",
        (scopes,),
    ).fetchall()
    return {scope: (run_id, LandedPaths(list(paths), *mtimes)) for scope, run_id, paths, *mtimes in rows}


def landed_in_run(conn: psycopg.Connection, run_id: str, scope: str) -> LandedPaths | None:
    """What the run ``run_id`` landed in ``scope``; None when it recorded nothing there."""
    conn.execute(CREATE)
    row = conn.execute(
        f"SELECT paths, mtime_before, mtime_after FROM {TABLE} WHERE run_id = %s AND scope = %s", (run_id, scope)
    ).fetchone()
    return None if row is None else LandedPaths(list(row[0]), row[1], row[2])
