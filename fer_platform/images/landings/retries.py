"""Landing runs that failed for good: their events re-opened with backoff, then abandoned, named.

Dagster starts one run per run key, so a landing run that failed (all its retries spent) would leave its events
open forever under a key Dagster will not launch again. The sensor hands the keys of failed runs to
``retry_failed``: each set of events gets a new key (``<key>~<try>``), asked for only after a backoff
(``BACKOFF_S``, doubling); after ``MAX_TRIES`` the events are marked abandoned, and the sensor reports the
``landings_delivered`` check failed, naming the blobs, until ``fer-platform events retry-abandoned`` re-opens
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from fer_platform.images.landings.event_log import TABLE, ensure_event_log

MAX_TRIES = 3
BACKOFF_S = 60


@dataclass(frozen=True)
class Abandoned:
    """The events of one landing run given up on: its key, its emotion and the files it was to land."""

    run_key: str
    emotion: str
    filepaths: list[str]


def retry_failed(conn: psycopg.Connection, run_key: str) -> Abandoned | None:
    """Re-key the open events of the failed run ``run_key`` for a later try, or abandon them after
    ``MAX_TRIES`` (answered)."""
    ensure_event_log(conn)
    row = conn.execute(
        f"SELECT max(tries), min(emotion) FROM {TABLE} WHERE run_key = %s AND landed_at IS NULL", (run_key,)
    ).fetchone()
    tries, emotion = row if row else (None, None)
    if tries is None:
        return None  # read by a run after all
    if tries + 1 >= MAX_TRIES:
        rows = conn.execute(
            f"UPDATE {TABLE} SET abandoned_at = now() WHERE run_key = %s AND landed_at IS NULL RETURNING filepath",
            (run_key,),
        ).fetchall()
        return Abandoned(run_key, emotion, sorted(path for (path,) in rows if path))
    conn.execute(
        f"UPDATE {TABLE} SET run_key = %s, tries = tries + 1, retry_at = now() + make_interval(secs => %s) "
        f"WHERE run_key = %s AND landed_at IS NULL",
        (f"{run_key.split('~')[0]}~{tries + 2}", BACKOFF_S * 2**tries, run_key),
    )
    return None


def abandoned(conn: psycopg.Connection, emotion: str, limit: int = 200) -> list[str]:
    """File paths of the emotion's abandoned events, at most ``limit``, for a check to name."""
    ensure_event_log(conn)
    rows = conn.execute(
        f"SELECT filepath FROM {TABLE} WHERE abandoned_at IS NOT NULL AND landed_at IS NULL AND emotion = %s "
        f"ORDER BY filepath LIMIT %s",
        (emotion, limit),
    ).fetchall()
    return [path for (path,) in rows]


def reopen_abandoned(conn: psycopg.Connection) -> int:
    """Give abandoned events a fresh start (tries from zero, a new key); how many events."""
    ensure_event_log(conn)
    return conn.execute(
        f"UPDATE {TABLE} SET abandoned_at = NULL, retry_at = NULL, tries = 0, "
        f"run_key = split_part(run_key, '~', 1) || '~r' || extract(epoch from now())::bigint "
        f"WHERE abandoned_at IS NOT NULL AND landed_at IS NULL"
    ).rowcount
