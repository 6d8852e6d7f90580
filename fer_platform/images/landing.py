"""Images dropped into the Azure source container (FER_SOURCE_URL) brought into the image root.

The image root stays the authority for edits and deletions. A blob that is absent
from the image root either landed there from outside (download it) or was
uploaded from the image root and the file has since been deleted (leave it: the
upload stage removes the blob). A ledger on the source database,
``fer_landing_ledger``, tells the two apart without reading any later stage: it
holds every file path the image root has held when a landing ran, and every path
that landed. Every upload happens after a landing in the same run, so every
uploaded file is in the ledger before it can be deleted. Nothing happens for a
local source folder: it is only ever written from the image root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import psycopg

from fer_platform.images.manifest import list_emotion_files
from fer_platform.storage.location import Location, open_location
from fer_platform.storage.transfer import copy_objects

# Copies the named blobs of the source into the image root; answers the names it landed (a blob deleted since
# the listing is not landed). This process (``download``) or tasks on a Ray cluster (``images.on_ray``).
Copy = Callable[[list[str]], list[str]]

LEDGER = "fer_landing_ledger"
CREATE = f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
    filepath text PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now()
)"""


def ledger_paths(conn: psycopg.Connection, scope: str) -> frozenset[str]:
    """The recorded paths under ``scope`` (``<split>/<emotion>/``)."""
    conn.execute(CREATE)
    rows = conn.execute(f"SELECT filepath FROM {LEDGER} WHERE starts_with(filepath, %s)", (scope,)).fetchall()
    return frozenset(path for (path,) in rows)


def record(conn: psycopg.Connection, paths: set[str]) -> None:
    """Add ``paths`` to the ledger (a path already there stays as it was)."""
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {LEDGER} (filepath) VALUES (%s) ON CONFLICT DO NOTHING", [(p,) for p in paths])


def download(source: Location, image_root: Path, concurrency: int) -> Copy:
    """Landing in this process: concurrent reads from the source, each file written whole into the image root."""

    def copy(names: list[str]) -> list[str]:
        copy_objects(source, names, open_location(str(image_root)), lambda name: name, concurrency)
        return names

    return copy


def land_from_source(source: Location, image_root: Path, scope: str, conn: psycopg.Connection, copy: Copy) -> list[str]:
    """Blobs under ``scope`` (``<split>/<emotion>/``) that are neither in the image root nor in the ledger, copied
    into the image root by ``copy``; the ledger then records the root's files and the landed ones, in one commit.
    Nothing already in the image root is overwritten or deleted. A missing source container is created (the
    upload stage would create it anyway): nothing landed yet."""
    if source.is_local:
        return []
    split, emotion = scope.strip("/").split("/")
    with conn.transaction():
        known = ledger_paths(conn, scope)
        source.ensure()
        missing = sorted(source.names(scope) - open_location(str(image_root)).names(scope) - known)
        landed = copy(missing) if missing else []
        folder_exists = (image_root / split / emotion).is_dir()
        files = list_emotion_files(image_root, split, emotion) if folder_exists else []
        present = {p.relative_to(image_root).as_posix() for p in files}
        record(conn, (present | set(landed)) - known)
    return landed
