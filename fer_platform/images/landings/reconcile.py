"""Reconciliation: a listing of the source container that finds the blobs no event told of, a page at a time.

Events can be lost (a paused subscription, a purged queue), and without FER_EVENTS_QUEUE a listing is the only
way to know what landed. Listing a container of a million blobs takes minutes (~0.55 ms a name measured on
Azurite), more than one sensor tick may take, so a pass lists ``PAGE_SIZE`` names a request, keeps the service's
continuation token in the sensor's cursor (``ListingPass``) and stops at the tick's deadline; the next tick goes
on from the token. Each page is checked against the event log, the landing ledger and the image root by its
names only (indexed lookups, never the whole history), and what none of them knows is recorded as a ``created``
event with the empty sequencer, so the next run lands it. A page recorded twice (a tick that died before its
cursor was saved) records nothing new.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

from fer_platform.images.landings.event_log import assign_runs, known_blobs, record_events
from fer_platform.images.landings.events import BlobEvent, ours
from fer_platform.images.landings.landing import in_ledger
from fer_platform.storage.location import Location

PAGE_SIZE = 1000  # names a listing request returns (the service allows 5000; smaller pages overshoot less)


@dataclass
class ListingPass:
    """How far a pass over the container went: its continuation token and what it has seen so far."""

    token: str | None = None
    pages: int = 0
    listed: int = 0
    found: int = 0
    started_at: float = 0.0

    def dumps(self) -> dict:
        return asdict(self)


def unknown_blobs(
    conn: psycopg.Connection, source: Location, image_root: Path, split: str, names: list[str]
) -> list[BlobEvent]:
    """The listed images that no event told of, the landing ledger does not hold and the image root lacks."""
    candidates = {path: emotion for path in names for emotion, reason in [ours(path, split)] if reason is None}
    blobs = {f"{source.root}/{path}": path for path in candidates}
    known, held = known_blobs(conn, list(blobs)), in_ledger(conn, list(candidates))
    url = source.url.rstrip("/")
    return [
        BlobEvent(blob, f"{url}/{path}", None, "", "created", path, candidates[path])
        for blob, path in sorted(blobs.items())
        if blob not in known and path not in held and not (image_root / path).exists()
    ]


def reconcile_pages(
    conn: psycopg.Connection, source: Location, image_root: Path, split: str, progress: ListingPass, deadline: float
) -> bool:
    """List pages from ``progress.token`` until the pass ends (True) or ``deadline`` (``time.monotonic``) has
    passed (False), one page at least; each page's finds are recorded in one commit, and given run keys (one
    per emotion) at the end."""
    done = False
    while not done:
        names, token = source.page(f"{split}/", progress.token, PAGE_SIZE)
        with conn.transaction():
            found = unknown_blobs(conn, source, image_root, split, names)
            record_events(conn, found)
        progress.token = token
        progress.pages, progress.listed, progress.found = (
            progress.pages + 1, progress.listed + len(names), progress.found + len(found)
        )
        done = token is None
        if time.monotonic() >= deadline:
            break
    with conn.transaction():
        assign_runs(conn)  # one run per emotion for what this call found
    return done
