"""Images dropped into the Azure source container (FER_SOURCE_URL) brought into the image root.

The image root stays the authority for edits and deletions. A blob that is absent
from the image root either landed there from outside (download it) or was
uploaded from the image root and the file has since been deleted (leave it: the
upload stage removes the blob). A ledger on the source database,
``fer_landing_ledger``, tells the two apart without reading any later stage: it
holds every file path a scan of the image root has read (``raw_images`` records
the files it read, in the commit that stores them), every candidate found in the
image root and every path that landed. Every upload happens after a scan in the
same run, so every uploaded file is in the ledger before it can be deleted.
Nothing happens for a local source folder: it is only ever written from the
image root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from fer_platform.images.landings.event_log import blobs_to_land, mark_read
from fer_platform.storage.location import ContainerMissingError, Location, open_location

# Copies the named blobs of the source into the image root; answers the names it landed (a blob deleted since
# the listing is not landed). This process (``download``) or tasks on a Ray cluster (``images.on_ray``).
Copy = Callable[[list[str]], list[str]]

LEDGER = "fer_landing_ledger"
CREATE = f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
    filepath text PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now()
)"""


def record(conn: psycopg.Connection, paths: set[str]) -> None:
    """Add ``paths`` to the ledger (a path already there stays as it was)."""
    conn.execute(CREATE)
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {LEDGER} (filepath) VALUES (%s) ON CONFLICT DO NOTHING", [(p,) for p in paths])


def download(source: Location, image_root: Path, concurrency: int) -> Copy:
    """Landing in this process: concurrent reads from the source, each file written whole into the image root."""
    root = open_location(str(image_root))

    def fetch(name: str) -> str | None:
        try:
            root.write_atomic(name, source.read(name))
        except FileNotFoundError:
            return None  # deleted since it was listed or announced
        return name

    def copy(names: list[str]) -> list[str]:
        with ThreadPoolExecutor(max_workers=min(concurrency, 16)) as pool:
            return [name for name in pool.map(fetch, names) if name is not None]

    return copy


def land(
    conn: psycopg.Connection, image_root: Path, candidates: Callable[[], Iterable[str]], copy: Copy
) -> tuple[list[str], list[str]]:
    """Copy the ``candidates`` that are neither in the image root nor in the ledger; the ledger then records
    those found in the image root and the landed ones, in one commit with whatever ``candidates`` wrote. Nothing
    already in the image root is overwritten or deleted, and only the candidates are looked up (a landing of k
    blobs costs k lookups, whatever the folder holds). Answers (landed, gone): gone are the wanted blobs
    deleted before they could be read."""
    with conn.transaction():
        offered = set(candidates())
        held = in_ledger(conn, offered)
        present = {path for path in offered - held if (image_root / path).exists()}
        wanted = sorted(offered - held - present)
        landed = copy(wanted) if wanted else []
        record(conn, present | set(landed))
    return landed, sorted(set(wanted) - set(landed))


def land_from_source(
    source: Location, image_root: Path, scope: str, conn: psycopg.Connection, copy: Copy
) -> tuple[list[str], list[str]]:
    """``land`` what a listing of the source container finds under ``scope`` (a run started by hand without
    FER_EVENTS_QUEUE), and take the emotion's recorded events as read: the listing covers them. A missing
    source container is never created here (``source_images_blob`` creates it on its first upload): nothing
    can have landed in it. A local source folder lands nothing."""
    if source.is_local:
        return [], []
    try:
        source.ensure(create=False)
    except ContainerMissingError:
        return [], []
    emotion = scope.strip("/").split("/")[1]

    def candidates() -> set[str]:
        mark_read(conn, emotion, None)
        return source.names(scope)

    return land(conn, image_root, candidates, copy)


def land_from_events(
    conn: psycopg.Connection, image_root: Path, scope: str, run_key: str | None, copy: Copy
) -> tuple[list[str], list[str]]:
    """``land`` the blobs of the recorded events of ``run_key`` (every unread event of the emotion when None)
    whose newest event is a create; no listing. The events are read in the same commit."""
    emotion = scope.strip("/").split("/")[1]

    def candidates() -> list[str]:
        paths = blobs_to_land(conn, emotion, run_key)
        mark_read(conn, emotion, run_key)
        return paths

    return land(conn, image_root, candidates, copy)


def in_ledger(conn: psycopg.Connection, paths: Iterable[str]) -> frozenset[str]:
    """Which of ``paths`` the image root holds or has held (the sensor ignores events for those: our own
    uploads, or files whose authority is the image root)."""
    conn.execute(CREATE)
    rows = conn.execute(f"SELECT filepath FROM {LEDGER} WHERE filepath = ANY(%s)", (list(paths),)).fetchall()
    return frozenset(path for (path,) in rows)
