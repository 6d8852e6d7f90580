"""Mirroring an emotion folder's images by the manifest's delta, not by listing both sides.

``source_images_blob`` (image root -> source container) and ``lakehouse_images`` (source container -> lake) each
keep, per folder, the horizon of the manifest log (``images.manifest_log``) they applied last, in
``fer_mirror_state`` on the source database. A run copies the files logged usable since then and deletes those
logged gone or undecodable: a landing of k images moves k objects and lists nothing. The first run of a folder
(no horizon yet: a new deployment, or one made before the log) is a whole incremental sync by listing, as before.
The new horizon is taken before anything is read and stored after the transfer succeeded, so a run killed in
between repeats at worst what it already did. Entries every mirror has applied are pruned.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from fer_platform.images.manifest_log import changes_since, prune
from fer_platform.lake.transfer import Progress, TransferReport, copy_objects
from fer_platform.storage.location import Location
from fer_platform.table.change_log import snapshot_horizon

STATE = "fer_mirror_state"
CREATE = f"""CREATE TABLE IF NOT EXISTS {STATE} (
    consumer text NOT NULL,
    scope text NOT NULL,
    horizon bigint NOT NULL,
    PRIMARY KEY (consumer, scope)
)"""
MIRRORS = 2  # source_images_blob and lakehouse_images: the log is pruned once both have applied it


def stored_horizon(conn: psycopg.Connection, consumer: str, scope: str) -> int | None:
    conn.execute(CREATE)
    row = conn.execute(f"SELECT horizon FROM {STATE} WHERE consumer = %s AND scope = %s", (consumer, scope)).fetchone()
    return int(row[0]) if row else None


def store_horizon(conn: psycopg.Connection, consumer: str, scope: str, horizon: int) -> None:
    """Keep the horizon applied, and prune the log below the lowest horizon of the mirrors."""
    with conn.transaction():
        conn.execute(
            f"INSERT INTO {STATE} (consumer, scope, horizon) VALUES (%s, %s, %s) "
            f"ON CONFLICT (consumer, scope) DO UPDATE SET horizon = excluded.horizon",
            (consumer, scope, horizon),
        )
        lowest = conn.execute(
            f"SELECT min(horizon), count(*) FROM {STATE} WHERE scope = %s", (scope,)
        ).fetchone()
        if lowest and lowest[1] >= MIRRORS:
            prune(conn, scope, int(lowest[0]))


def apply_changes(
    src: Location, dst: Location, rename: Callable[[str], str], changes: dict[str, bool], concurrency: int,
    progress: Progress | None = None,
) -> TransferReport:
    """Copy the ``changes`` marked usable from ``src`` to ``dst`` (under ``rename``d names) and delete the others
    there; a file gone from ``src`` since it was logged is skipped (a later entry deletes it)."""
    wanted = sorted(path for path, usable in changes.items() if usable)
    gone = sorted(path for path, usable in changes.items() if not usable)
    sent, bytes_sent = copy_objects(src, wanted, dst, rename, concurrency, progress) if wanted else ([], 0)
    deleted = []
    for path in gone:
        try:
            dst.fs.rm_file(dst.path(rename(path)))
            deleted.append(path)
        except FileNotFoundError:
            continue  # never uploaded (undecodable) or already deleted
    return TransferReport(sent=sent, deleted=deleted, unchanged=0, bytes_sent=bytes_sent)


def mirror(
    conn: psycopg.Connection, consumer: str, scope: str,
    whole: Callable[[], TransferReport], delta: Callable[[dict[str, bool]], TransferReport],
) -> tuple[TransferReport, str]:
    """Bring ``consumer``'s copy of the folder ``scope`` up to date: ``delta`` of the logged changes since its
    horizon, or ``whole`` (a listing sync) the first time; and which of the two it was."""
    conn.commit()
    horizon = snapshot_horizon(conn)  # before reading: changes logged later are applied by the next run
    applied = stored_horizon(conn, consumer, scope)
    if applied is None:
        report, mode = whole(), "whole sync (first run: listing both sides)"
    else:
        report, mode = delta(changes_since(conn, scope, applied)), "manifest delta"
    conn.commit()
    store_horizon(conn, consumer, scope, horizon)
    conn.commit()
    return report, mode
