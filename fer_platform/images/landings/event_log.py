"""``fer_landing_events``: every blob event the sensor received, on the source database.

Keyed by ``(blob, sequencer)``, so a repeated delivery inserts nothing. An event of ours gets the ``run_key``
of the run requested for it, and ``landed_at`` once a run has read it. What a blob is now is its event with
the greatest sequencer (Azure's rule), so a delete that arrives before its create, or an old create after a
newer event, ends in the right state. Reconciliation (a listing) records a blob no event told of as a
``created`` event with the empty sequencer, which every real event of that blob outranks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import psycopg

from fer_platform.images.landings.events import BlobEvent

TABLE = "fer_landing_events"
CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    blob text NOT NULL,
    sequencer text NOT NULL,
    url text NOT NULL,
    etag text,
    kind text NOT NULL,
    filepath text,
    emotion text,
    ignored text,
    received_at timestamptz NOT NULL DEFAULT now(),
    run_key text,
    landed_at timestamptz,
    tries integer NOT NULL DEFAULT 0,
    retry_at timestamptz,
    abandoned_at timestamptz,
    PRIMARY KEY (blob, sequencer)
);
CREATE INDEX IF NOT EXISTS {TABLE}_open ON {TABLE} (run_key, emotion) WHERE landed_at IS NULL;
CREATE INDEX IF NOT EXISTS {TABLE}_unassigned ON {TABLE} (emotion) WHERE run_key IS NULL AND emotion IS NOT NULL"""
# Tables made before landing retries existed get their columns (checked first: ALTER locks the whole table).
RETRY_COLUMNS = f"""ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS tries integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS retry_at timestamptz, ADD COLUMN IF NOT EXISTS abandoned_at timestamptz"""
ABANDONED_INDEX = f"CREATE INDEX IF NOT EXISTS {TABLE}_abandoned ON {TABLE} (emotion) WHERE abandoned_at IS NOT NULL"
# The newest event of each blob of one emotion.
LATEST = f"""SELECT DISTINCT ON (blob) blob, filepath, kind, run_key FROM {TABLE}
    WHERE emotion = %s ORDER BY blob, sequencer DESC"""


def ensure_event_log(conn: psycopg.Connection) -> None:
    """Create the table and its indexes when missing; add the retry columns to a table made without them."""
    conn.execute(CREATE)
    has_retries = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = 'abandoned_at' "
        "AND table_schema = current_schema()",
        (TABLE,),
    ).fetchone()
    if not has_retries:
        conn.execute(RETRY_COLUMNS)
    conn.execute(ABANDONED_INDEX)


def record_events(conn: psycopg.Connection, events: Iterable[BlobEvent]) -> int:
    """Insert the events (a repeated one is a no-op); the number that were new."""
    ensure_event_log(conn)
    rows = [(e.blob, e.sequencer, e.url, e.etag, e.kind, e.filepath, e.emotion, e.ignored) for e in events]
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {TABLE} (blob, sequencer, url, etag, kind, filepath, emotion, ignored) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            rows,
        )
        return cur.rowcount if rows else 0


def assign_runs(conn: psycopg.Connection) -> None:
    """Give each emotion's events that have no run yet one run key, named after exactly that set of events."""
    ensure_event_log(conn)
    pending = conn.execute(
        f"SELECT emotion, blob, sequencer FROM {TABLE} WHERE emotion IS NOT NULL AND run_key IS NULL "
        f"ORDER BY emotion, blob, sequencer"
    ).fetchall()
    sets: dict[str, hashlib.blake2b] = {}
    for emotion, blob, sequencer in pending:
        sets.setdefault(emotion, hashlib.blake2b(digest_size=8)).update(f"{blob}\0{sequencer}\n".encode())
    for emotion, digest in sets.items():
        conn.execute(
            f"UPDATE {TABLE} SET run_key = %s WHERE emotion = %s AND run_key IS NULL",
            (f"{emotion}@events:{digest.hexdigest()}", emotion),
        )


def open_runs(conn: psycopg.Connection) -> dict[str, str]:
    """Run key -> emotion of every run whose events no run has read yet, neither waiting for a retry nor
    abandoned (asking again is safe: Dagster starts one run per run key)."""
    ensure_event_log(conn)
    rows = conn.execute(
        f"SELECT DISTINCT run_key, emotion FROM {TABLE} WHERE run_key IS NOT NULL AND landed_at IS NULL "
        f"AND abandoned_at IS NULL AND (retry_at IS NULL OR retry_at <= now())"
    ).fetchall()
    return dict(sorted(rows))


def blobs_to_land(conn: psycopg.Connection, emotion: str, run_key: str | None) -> list[str]:
    """File paths whose newest event is a create, among the blobs of ``run_key``'s events (all unread events
    of the emotion when None: a run started by hand)."""
    ensure_event_log(conn)
    if run_key is None:
        wanted = f"SELECT blob FROM {TABLE} WHERE emotion = %s AND landed_at IS NULL"
        args: tuple = (emotion, emotion)
    else:
        wanted = f"SELECT blob FROM {TABLE} WHERE run_key = %s"
        args = (emotion, run_key)
    rows = conn.execute(
        f"SELECT filepath FROM ({LATEST}) latest WHERE kind = 'created' AND blob IN ({wanted}) ORDER BY filepath",
        args,
    ).fetchall()
    return [path for (path,) in rows]


def mark_read(conn: psycopg.Connection, emotion: str, run_key: str | None) -> None:
    """The events a run has read (``blobs_to_land``'s set) are done."""
    ensure_event_log(conn)
    if run_key is None:
        conn.execute(f"UPDATE {TABLE} SET landed_at = now() WHERE emotion = %s AND landed_at IS NULL", (emotion,))
    else:
        conn.execute(f"UPDATE {TABLE} SET landed_at = now() WHERE run_key = %s", (run_key,))


def known_blobs(conn: psycopg.Connection, blobs: list[str]) -> frozenset[str]:
    """Which of ``blobs`` some event (or reconciliation) told of: an indexed lookup of those names only."""
    ensure_event_log(conn)
    rows = conn.execute(f"SELECT DISTINCT blob FROM {TABLE} WHERE blob = ANY(%s)", (blobs,)).fetchall()
    return frozenset(blob for (blob,) in rows)
