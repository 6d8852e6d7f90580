"""Images dropped into the Azure source container (FER_SOURCE_URL) brought into the image root.

The image root stays the authority for edits and deletions: a blob whose file is
already in the table was uploaded from the image root and has since been deleted
there, so it is not brought back (the upload stage removes it). Nothing happens
for a local source folder: it is only ever written from the image root.
"""

from __future__ import annotations

from pathlib import Path

from fer_platform.storage.location import Location, open_location
from fer_platform.storage.transfer import fetch_missing


def land_from_source(
    source: Location, image_root: Path, scope: str, concurrency: int, embedded: frozenset[str]
) -> list[str]:
    """Blobs under ``scope`` (``<split>/<emotion>/``) absent from the image root and not in ``embedded``, downloaded."""
    if source.is_local:
        return []
    return fetch_missing(source, open_location(str(image_root)), scope, concurrency, skip=embedded)
