"""``fer_image_manifest``: the manifest the last scan of each emotion folder stored, on the source database.

It is what lets ``raw_images`` read only the files that changed (``images.scan``): one row per file
with its hash, decodability and stat fingerprint. A scan writes only what it read and what disappeared, in one
transaction per block of rows read, so a run killed before a block's commit re-reads its files, and one killed
after it finds them unchanged. ``verify_images`` compares it with a full re-read and removes rows that drifted.

``fer_image_folders`` keeps, in the scan's last transaction, each folder's mark (``scan.FolderMark``): what the
sensor compares folder mtimes with, so that it never lists a folder to know whether a run has read it; and the
folder's counts (files, decodable files, bytes), moved by each block's delta, so that no stage counts the folder's
rows to know them (``FolderCounts``; recounted once for a folder stored before they were kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
import psycopg

from fer_platform.images.manifest import MANIFEST_SCHEMA, MANIFEST_TABLE
from fer_platform.images.manifest_log import log_changes
from fer_platform.images.scan import FolderMark, ScanTally

TABLE = MANIFEST_TABLE
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
CREATE INDEX IF NOT EXISTS {TABLE}_failed ON {TABLE} (emotion) WHERE error IS NOT NULL;
CREATE TABLE IF NOT EXISTS fer_image_folders (
    scope text PRIMARY KEY,
    mtime_ns bigint NOT NULL,
    newest_file_ns bigint NOT NULL,
    marked_at_ns bigint NOT NULL
);
ALTER TABLE fer_image_folders ADD COLUMN IF NOT EXISTS files bigint,
    ADD COLUMN IF NOT EXISTS decodable bigint, ADD COLUMN IF NOT EXISTS bytes bigint"""
# files, decodable files and bytes of a set of manifest rows
COUNTS = "count(*), count(*) FILTER (WHERE error IS NULL), coalesce(sum(size_bytes), 0)"
UPSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    f"ON CONFLICT (filepath) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "filepath")
    + ", scanned_at = now()"
)


def ensure_manifest_table(conn: psycopg.Connection) -> None:
    """Create the table and its index when missing."""
    conn.execute(CREATE)


@dataclass(frozen=True)
class FolderCounts:
    """A folder's files, decodable files and bytes, as its stored manifest holds them."""

    files: int = 0
    decodable: int = 0
    bytes: int = 0

    def __add__(self, other: FolderCounts) -> FolderCounts:
        return FolderCounts(self.files + other.files, self.decodable + other.decodable, self.bytes + other.bytes)

    def __sub__(self, other: FolderCounts) -> FolderCounts:
        return FolderCounts(self.files - other.files, self.decodable - other.decodable, self.bytes - other.bytes)


def read_manifest(conn: psycopg.Connection, scope: str, only: list[str] | None = None) -> pl.DataFrame:
    """The stored manifest of the folder ``scope`` (``<split>/<emotion>/``), or its rows of the paths ``only``
    (by primary key); empty before its first scan."""
    ensure_manifest_table(conn)
    emotion = scope.strip("/").split("/")[-1]
    blocks = [pl.DataFrame(schema=MANIFEST_SCHEMA)]
    # by primary key only: given the emotion too, the planner may walk the emotion's whole index
    where, args = ("filepath = ANY(%s)", (only,)) if only is not None else ("emotion = %s", (emotion,))
    with conn.transaction(), conn.cursor(name="fer_read_manifest") as cur:  # server-side: pages, not all rows
        cur.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE {where} AND starts_with(filepath, %s)", (*args, scope)
        )
        while rows := cur.fetchmany(PAGE_ROWS):
            blocks.append(pl.DataFrame(rows, schema=MANIFEST_SCHEMA, orient="row"))
    return pl.concat(blocks, rechunk=True)


def store_read(conn: psycopg.Connection, scope: str, block: pl.DataFrame) -> None:
    """Write one block of the rows a scan of the folder ``scope`` read, log them (``manifest_log``) and move the
    folder's counts, in the caller's transaction: a scan commits block by block, so a run killed halfway keeps
    what it read (stored with the fingerprint it was read at, so the next scan does not read it again). The
    tables exist (``ensure_manifest_table``, committed before: no schema lock is taken per block)."""
    conn.execute(  # a first scan's folder: counted from zero, its mark void until the scan ends (as ``unmark``)
        "INSERT INTO fer_image_folders (scope, mtime_ns, newest_file_ns, marked_at_ns, files, decodable, bytes) "
        "VALUES (%s, -1, 0, 0, 0, 0, 0) ON CONFLICT (scope) DO NOTHING",
        (scope,),
    )
    with counts_kept(conn, scope, block.get_column("filepath").to_list()), conn.cursor() as cur:
        cur.executemany(UPSERT, block.select(COLUMNS).iter_rows())  # row by row, never a list
    log_changes(conn, scope, block.select("filepath", pl.col("error").is_null()).iter_rows(), [])


def store_end(conn: psycopg.Connection, scope: str, removed: list[str], mark: FolderMark) -> None:
    """Once every block read is stored: delete the paths that are gone, log them, keep the folder's mark (a run
    killed before this has no new mark, so the folder still reads as changed and the next run reads only what is
    left) and count the folder once if it was stored before counts were kept, in the caller's transaction. The
    tables exist (as for ``store_read``)."""
    conn.execute(
        "INSERT INTO fer_image_folders (scope, mtime_ns, newest_file_ns, marked_at_ns) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (scope) DO UPDATE SET mtime_ns = excluded.mtime_ns, "
        "newest_file_ns = excluded.newest_file_ns, marked_at_ns = excluded.marked_at_ns",
        (scope, mark.mtime_ns, mark.newest_file_ns, mark.marked_at_ns),
    )
    with counts_kept(conn, scope, removed):
        conn.execute(f"DELETE FROM {TABLE} WHERE filepath = ANY(%s)", (removed,))
    log_changes(conn, scope, [], removed)
    if stored_counts(conn, scope) is None:  # a folder stored before counts were kept: counted once
        emotion = scope.strip("/").split("/")[-1]
        counts = counted(conn, "emotion = %s AND starts_with(filepath, %s)", emotion, scope)
        conn.execute(
            "UPDATE fer_image_folders SET files = %s, decodable = %s, bytes = %s WHERE scope = %s",
            (counts.files, counts.decodable, counts.bytes, scope),
        )


@contextmanager
def counts_kept(conn: psycopg.Connection, scope: str, paths: list[str]) -> Iterator[None]:
    """Moves the folder's stored counts by what the block does to the stored rows of ``paths`` (O(len(paths)):
    by primary key)."""
    before = counted(conn, "filepath = ANY(%s)", paths)
    yield
    delta = counted(conn, "filepath = ANY(%s)", paths) - before
    conn.execute(
        "UPDATE fer_image_folders SET files = files + %s, decodable = decodable + %s, bytes = bytes + %s "
        "WHERE scope = %s",
        (delta.files, delta.decodable, delta.bytes, scope),
    )


def counted(conn: psycopg.Connection, where: str, *args: object) -> FolderCounts:
    """The counts of the stored manifest rows that ``where`` selects."""
    return FolderCounts(*conn.execute(f"SELECT {COUNTS} FROM {TABLE} WHERE {where}", args).fetchone())


def stored_counts(conn: psycopg.Connection, scope: str) -> FolderCounts | None:
    """The folder's maintained counts (one row); None before its first scan stored them."""
    ensure_manifest_table(conn)
    row = conn.execute("SELECT files, decodable, bytes FROM fer_image_folders WHERE scope = %s", (scope,)).fetchone()
    return None if row is None or row[0] is None else FolderCounts(*row)


def failed_files(conn: psycopg.Connection, scope: str, limit: int) -> dict[str, str]:
    """Up to ``limit`` unusable files of the folder and why (a partial index: O(unusable files), not O(N))."""
    ensure_manifest_table(conn)
    rows = conn.execute(
        f"SELECT filepath, error FROM {TABLE} WHERE emotion = %s AND error IS NOT NULL "
        "AND starts_with(filepath, %s) ORDER BY filepath LIMIT %s",
        (scope.strip("/").split("/")[-1], scope, limit),
    ).fetchall()
    return dict(rows)


def read_marks(conn: psycopg.Connection, split: str) -> dict[str, FolderMark]:
    """emotion -> the mark its last scan stored, for every folder of ``split`` (one row per emotion)."""
    ensure_manifest_table(conn)
    rows = conn.execute(
        "SELECT scope, mtime_ns, newest_file_ns, marked_at_ns FROM fer_image_folders WHERE starts_with(scope, %s)",
        (f"{split}/",),
    ).fetchall()
    return {scope.strip("/").split("/")[-1]: FolderMark(*mark) for scope, *mark in rows}


def read_mark(conn: psycopg.Connection, scope: str) -> FolderMark | None:
    """The mark the last scan of the folder ``scope`` stored; None before its first scan."""
    ensure_manifest_table(conn)
    row = conn.execute(
        "SELECT mtime_ns, newest_file_ns, marked_at_ns FROM fer_image_folders WHERE scope = %s", (scope,)
    ).fetchone()
    return None if row is None else FolderMark(*row)


def forget(conn: psycopg.Connection, scope: str, paths: Iterable[str]) -> None:
    """Delete the folder's rows of ``paths`` (their files are read again by the next scan), counts moved."""
    ensure_manifest_table(conn)
    paths = list(paths)
    with conn.transaction(), counts_kept(conn, scope, paths):
        conn.execute(f"DELETE FROM {TABLE} WHERE filepath = ANY(%s)", (paths,))


def unmark(conn: psycopg.Connection, scope: str) -> None:
    """Void the folder's mark (its counts stay): the sensor then asks for a run of it whatever its mtime (files
    changed in place), and that run lists the folder."""
    ensure_manifest_table(conn)
    conn.execute("UPDATE fer_image_folders SET mtime_ns = -1 WHERE scope = %s", (scope,))


@dataclass(frozen=True)
class FolderManifest:
    """What ``raw_images`` hands to the later stages: the folder's maintained counts and what its scan read
    and found gone, not the folder's N rows (nor the scan's: a first scan of 1M files pickles a tally). A stage
    that needs rows reads them from ``fer_image_manifest`` by path (``rows``), or compares them on the server
    (``embeddings_table``'s plan: ``table.planned``)."""

    scope: str
    counts: FolderCounts
    read: ScanTally
    removed: list[str]

    def rows(self, conn: psycopg.Connection, paths: list[str]) -> pl.DataFrame:
        """The stored manifest rows of ``paths`` (by primary key)."""
        return read_manifest(conn, self.scope, paths)


def stored_folder(conn: psycopg.Connection, scope: str, read: ScanTally, removed: list[str]) -> FolderManifest:
    """The folder as stored now, with what the scan that just stored it read and removed."""
    return FolderManifest(scope, stored_counts(conn, scope) or FolderCounts(), read, removed)
