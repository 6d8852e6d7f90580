"""``fer_image_manifest``: the manifest the last scan of each emotion folder stored, on the source database.

It is what lets ``raw_images`` read only the files that changed (``manifest.update_manifest``): one row per file
with its hash, decodability and stat fingerprint. A scan writes only what it read and what disappeared, in one
transaction, so a run killed before that commit re-reads the same files, and one killed after it finds them
unchanged. ``verify_images`` compares it with a full re-read and removes rows that drifted.

``fer_image_folders`` keeps, in the same transaction, each folder's mark (``manifest.FolderMark``): what the
sensor compares folder mtimes with, so that it never lists a folder to know whether a run has read it.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
import psycopg

from fer_platform.images.manifest import MANIFEST_SCHEMA, FolderMark, ManifestUpdate
from fer_platform.images.manifest_log import log_changes

TABLE = "fer_image_manifest"
PAGE_ROWS = 65_536  # rows a read of the stored manifest holds as Python objects at a time
COLUMNS = tuple(MANIFEST_SCHEMA)
CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    filepath text PRIMARY KEY,
    emotion text NOT NULL,
    size_bytes bigint NOT NULL,
    sha256 text NOT NULL,
    width integer,
    height integer,
    error text,
    mtime_ns bigint NOT NULL,
    inode bigint NOT NULL,
    scanned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {TABLE}_emotion ON {TABLE} (emotion);
CREATE TABLE IF NOT EXISTS fer_image_folders (
    scope text PRIMARY KEY,
    mtime_ns bigint NOT NULL,
    newest_file_ns bigint NOT NULL,
    marked_at_ns bigint NOT NULL
)"""
UPSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    f"ON CONFLICT (filepath) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "filepath")
    + ", scanned_at = now()"
)


def ensure_manifest_table(conn: psycopg.Connection) -> None:
    """Create the table and its index when missing."""
    conn.execute(CREATE)


def read_manifest(conn: psycopg.Connection, scope: str) -> pl.DataFrame:
    """The stored manifest of the folder ``scope`` (``<split>/<emotion>/``); empty before its first scan."""
    ensure_manifest_table(conn)
    emotion = scope.strip("/").split("/")[-1]
    blocks = [pl.DataFrame(schema=MANIFEST_SCHEMA)]
    with conn.transaction(), conn.cursor(name="fer_read_manifest") as cur:  # server-side: pages, not all rows
        cur.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE emotion = %s AND starts_with(filepath, %s)",
            (emotion, scope),
        )
        while rows := cur.fetchmany(PAGE_ROWS):
            blocks.append(pl.DataFrame(rows, schema=MANIFEST_SCHEMA, orient="row"))
    return pl.concat(blocks, rechunk=True)


def store_update(conn: psycopg.Connection, scope: str, update: ManifestUpdate) -> None:
    """Write the rows the scan of the folder ``scope`` read, delete the paths that are gone, log both
    (``manifest_log``) and keep the folder's mark, in one transaction."""
    with conn.transaction():
        ensure_manifest_table(conn)
        forget(conn, update.removed)
        with conn.cursor() as cur:
            cur.executemany(UPSERT, update.described.select(COLUMNS).iter_rows())  # row by row, never a list
        read = update.described.select("filepath", pl.col("error").is_null()).iter_rows()
        log_changes(conn, scope, read, update.removed)
        mark = update.mark
        conn.execute(
            "INSERT INTO fer_image_folders (scope, mtime_ns, newest_file_ns, marked_at_ns) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (scope) DO UPDATE SET mtime_ns = excluded.mtime_ns, "
            "newest_file_ns = excluded.newest_file_ns, marked_at_ns = excluded.marked_at_ns",
            (scope, mark.mtime_ns, mark.newest_file_ns, mark.marked_at_ns),
        )


def read_marks(conn: psycopg.Connection, split: str) -> dict[str, FolderMark]:
    """emotion -> the mark its last scan stored, for every folder of ``split`` (one row per emotion)."""
    ensure_manifest_table(conn)
    rows = conn.execute(
        "SELECT scope, mtime_ns, newest_file_ns, marked_at_ns FROM fer_image_folders WHERE starts_with(scope, %s)",
        (f"{split}/",),
    ).fetchall()
    return {scope.strip("/").split("/")[-1]: FolderMark(*mark) for scope, *mark in rows}


def forget(conn: psycopg.Connection, paths: Iterable[str]) -> int:
    """Delete the rows of ``paths`` (their files are read again by the next scan); how many there were."""
    ensure_manifest_table(conn)
    return conn.execute(f"DELETE FROM {TABLE} WHERE filepath = ANY(%s)", (list(paths),)).rowcount


def unmark(conn: psycopg.Connection, scope: str) -> None:
    """Drop the folder's mark: the sensor then asks for a run of it whatever its mtime (files changed in place)."""
    ensure_manifest_table(conn)
    conn.execute("DELETE FROM fer_image_folders WHERE scope = %s", (scope,))
