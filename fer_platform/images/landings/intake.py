"""One sensor tick's work on the events queue (FER_EVENTS_QUEUE), and the reconciling listing.

Messages are received with a visibility timeout, decoded, recorded in ``fer_landing_events`` and given run
keys in one commit; only then are they deleted. A crash between the two makes the queue deliver them again,
and recording them again changes nothing. A message that cannot be decoded, or that was delivered more than
``MAX_DELIVERIES`` times, is moved to ``<queue>-poison``. Events for paths the image root holds or held (the
landing ledger: our own uploads, or files whose authority is the image root) are recorded as ignored, so the
pipeline's own uploads never start a run. The cost of a tick follows what arrived, not what is stored.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from fer_platform.images.landings.event_log import assign_runs, open_runs, record_events, recorded_blobs
from fer_platform.images.landings.events import BlobEvent, UndecodableMessage, message_events, ours, parse_event
from fer_platform.images.landings.landing import in_ledger, ledger_paths
from fer_platform.images.landings.queue import EventQueue, QueueMessage
from fer_platform.storage.location import Location, open_location

VISIBILITY_S = 300  # a received message stays hidden this long; a tick that dies lets it come back
MAX_DELIVERIES = 5
MAX_PER_TICK = 2000  # messages read per tick; the rest wait for the next one


@dataclass
class Intake:
    """What one tick took from the queue and what it asks for."""

    received: int = 0
    new_events: int = 0
    ignored: Counter = field(default_factory=Counter)  # reason -> events
    poisoned: list[str] = field(default_factory=list)  # message id: reason
    runs: dict[str, str] = field(default_factory=dict)  # run key -> emotion


def decode(
    queue: EventQueue, messages: list[QueueMessage], source_root: str, split: str, intake: Intake
) -> tuple[list[BlobEvent], list[QueueMessage]]:
    """The events of the usable messages, and those messages; the others are set aside in the poison queue."""
    events: list[BlobEvent] = []
    usable: list[QueueMessage] = []
    for message in messages:
        try:
            if message.dequeue_count > MAX_DELIVERIES:
                raise UndecodableMessage(f"delivered {message.dequeue_count} times")
            events.extend(parse_event(raw, source_root, split) for raw in message_events(message.body))
            usable.append(message)
        except UndecodableMessage as exc:
            queue.set_aside(message)
            intake.poisoned.append(f"{message.id}: {exc}")
    return events, usable


def ours_only(conn: psycopg.Connection, events: list[BlobEvent]) -> list[BlobEvent]:
    """Events for paths in the landing ledger, marked ignored (the image root is their authority)."""
    held = in_ledger(conn, [e.filepath for e in events if e.filepath])
    reason = "the image root holds or held this path (its authority)"
    return [dataclasses.replace(e, emotion=None, ignored=reason) if e.filepath in held else e for e in events]


def take_events(
    queue: EventQueue, conn: psycopg.Connection, source_root: str, split: str, visibility_s: int = VISIBILITY_S
) -> Intake:
    """Receive, record (one commit), then delete; the run keys of every event set no run has read yet."""
    messages = queue.receive(MAX_PER_TICK, visibility_s)
    intake = Intake(received=len(messages))
    events, usable = decode(queue, messages, source_root, split, intake)
    with conn.transaction():
        events = ours_only(conn, events)
        intake.new_events = record_events(conn, events)
        assign_runs(conn)
    conn.commit()  # durable before any message goes, even when the caller had a transaction open
    queue.delete(usable)
    intake.ignored.update(e.ignored for e in events if e.ignored)
    intake.runs = open_runs(conn)
    return intake


def reconcile(conn: psycopg.Connection, source: Location, image_root: Path, split: str) -> int:
    """List the source container and record, as events, the images no event told of and the image root never
    held (lost events: a paused subscription, a purged queue); the number found."""
    listed = source.names(f"{split}/")
    root_files = open_location(str(image_root)).names(f"{split}/") if image_root.is_dir() else set()
    with conn.transaction():
        known, held = recorded_blobs(conn), ledger_paths(conn, f"{split}/")
        found = []
        for path in sorted(listed - root_files - held):
            emotion, reason = ours(path, split)
            blob = f"{source.root}/{path}"
            if reason is None and blob not in known:
                found.append(BlobEvent(blob, f"{source.url.rstrip('/')}/{path}", None, "", "created", path, emotion))
        record_events(conn, found)
        assign_runs(conn)
    return len(found)
