"""What a folder holds now, compared with its stored manifest inside PostgreSQL, so that the driver of a scan holds
a block of paths at a time whatever the folder holds.

A scan's listing (or the stat of the files a landing wrote) goes, block by block, into a temporary table of the
scan's own connection (``fer_scan_listing``: path and stat fingerprint, never a content hash). The server then
answers the two questions a scan asks, by primary key on both sides: which listed files have no stored row or a
stored fingerprint that differs (``pages_to_read``, a block of paths at a time, keyset-paged so that the scan may
commit between pages), and which stored paths of the folder are no longer listed (``gone``: what was deleted).
Only the listing, on its way in, crosses the connection in proportion to the folder.

Every statement here runs in a transaction of its own: the scan commits the rows it read block by block on the
same connection, between the pages. The listing lives in the connection's session, across those transactions:
the source database must be reached directly or through a pooler in session mode, never in transaction mode
(README, Deployment).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import polars as pl
import psycopg

from fer_platform.images.manifest import BLOCK_ROWS, MANIFEST_TABLE, is_image_candidate
from fer_platform.postgres.connection import require_idle

# What tells a file changed without reading it.
FINGERPRINT = ("size_bytes", "mtime_ns", "inode")
LISTING_SCHEMA = {"filepath": pl.String, **{name: pl.Int64 for name in FINGERPRINT}}
LISTING_TABLE = "fer_scan_listing"  # temporary: one per connection, gone with it
CREATE_LISTING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {LISTING_TABLE} (filepath text PRIMARY KEY, "
    + ", ".join(f"{name} bigint NOT NULL" for name in FINGERPRINT)
    + ")"
)
# Listed files after ``%s`` (keyset) whose fingerprint is not the stored one: a page in the listing's key order.
TO_READ = (
    f"SELECT l.filepath FROM {LISTING_TABLE} l LEFT JOIN {MANIFEST_TABLE} m ON m.filepath = l.filepath "
    f"WHERE l.filepath > %s AND (m.filepath IS NULL OR ({', '.join(f'm.{c}' for c in FINGERPRINT)}) "
    f"IS DISTINCT FROM ({', '.join(f'l.{c}' for c in FINGERPRINT)})) ORDER BY l.filepath LIMIT %s"
)


def listed_blocks(image_root: Path, split: str, emotion: str) -> Iterator[pl.DataFrame]:
    """``filepath`` and the fingerprint of every image candidate of the folder, from ``stat`` alone, a block of
    ``BLOCK_ROWS`` at a time (Python tuples for one block at most, whatever the folder holds)."""
    folder = image_root / split / emotion
    rows = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_image_candidate(entry.name) and entry.is_file(follow_symlinks=True):
                stat = entry.stat(follow_symlinks=True)
                rows.append((f"{split}/{emotion}/{entry.name}", stat.st_size, stat.st_mtime_ns, stat.st_ino))
            if len(rows) == BLOCK_ROWS:
                yield pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row")
                rows = []
    yield pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row")


def stat_paths(image_root: Path, paths: Sequence[str]) -> pl.DataFrame:
    """``filepath`` and the fingerprint of each of ``paths`` (relative to the root); FileNotFoundError when one
    is gone (the folder changed: the caller lists it instead)."""
    rows = []
    for path in paths:
        stat = os.stat(image_root / path)
        rows.append((path, stat.st_size, stat.st_mtime_ns, stat.st_ino))
    return pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row")


def load_listing(conn: psycopg.Connection, blocks: Iterable[pl.DataFrame]) -> int:
    """Replace the connection's listing with ``blocks`` (COPY, one short transaction per block, so no lock is
    held while the next block is stat-ed); the newest file mtime listed (0 for none). Analyzed once loaded: a
    temporary table has no statistics otherwise, and the pages join it with the whole manifest."""
    require_idle(conn)
    with conn.transaction():
        conn.execute(CREATE_LISTING)
        conn.execute(f"TRUNCATE {LISTING_TABLE}")
    for block in blocks:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY {LISTING_TABLE} ({', '.join(LISTING_SCHEMA)}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(block.write_csv(include_header=False))
    with conn.transaction():
        conn.execute(f"ANALYZE {LISTING_TABLE}")
        return conn.execute(f"SELECT coalesce(max(mtime_ns), 0) FROM {LISTING_TABLE}").fetchone()[0]


def pages_to_read(conn: psycopg.Connection) -> Iterator[pl.Series]:
    """The listed paths a scan must read (no stored row, or another fingerprint), ``BLOCK_ROWS`` at a time. Each
    page is asked for when the last one is done, so the rows stored in between (the paths of earlier pages) are
    never asked for again."""
    require_idle(conn)
    last = ""
    while True:
        with conn.transaction():
            page = [row[0] for row in conn.execute(TO_READ, (last, BLOCK_ROWS))]
        if not page:
            return
        last = page[-1]
        yield pl.Series("filepath", page, pl.String)


def gone(conn: psycopg.Connection, scope: str) -> list[str]:
    """The stored paths of the folder ``scope`` that the listing lacks (what was deleted since the last scan)."""
    with conn.transaction():
        rows = conn.execute(
            f"SELECT m.filepath FROM {MANIFEST_TABLE} m WHERE m.emotion = %s AND starts_with(m.filepath, %s) "
            f"AND NOT EXISTS (SELECT FROM {LISTING_TABLE} l WHERE l.filepath = m.filepath) ORDER BY m.filepath",
            (scope.strip("/").split("/")[-1], scope),
        ).fetchall()
    return [row[0] for row in rows]
