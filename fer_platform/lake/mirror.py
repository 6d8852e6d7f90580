"""Mirroring an emotion folder's images by the manifest's delta, not by listing both sides.

``source_images_blob`` (image root -> source container) and ``lakehouse_images`` (source container -> lake) each
keep, per folder, the horizon of the manifest log (``images.manifest_log``) they applied last, in
``fer_manifest_consumers`` on the source database. A run copies the files logged usable since then and deletes those
logged gone or undecodable: a landing of k images moves k objects and lists nothing. The first run of a folder
(no horizon yet: a new deployment, or one made before the log) is a whole incremental sync by listing, as before.
The new horizon is taken before anything is read and stored after the transfer succeeded, so a run killed in
between repeats at worst what it already did.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from fer_platform.images.manifest_log import advance, pending
from fer_platform.lake.transfer import Progress, TransferReport, copy_objects
from fer_platform.storage.location import Location


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
    horizon, changes = pending(conn, consumer, scope)
    if changes is None:
        report, mode = whole(), "whole sync (first run: listing both sides)"
    else:
        report, mode = delta(changes), "manifest delta"
    conn.commit()
    with conn.transaction():
        advance(conn, consumer, scope, horizon, whole=changes is None)
    conn.commit()
    return report, mode
