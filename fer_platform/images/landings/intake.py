"""One sensor tick's work on the events queue (FER_EVENTS_QUEUE).

Messages are received with a visibility timeout, decoded, recorded in ``fer_landing_events`` and given run
keys in one commit; only then are they deleted. A crash between the two makes the queue deliver them again,
and recording them again changes nothing. A message that cannot be decoded, or that was delivered more than
``MAX_DELIVERIES`` times, is moved to ``<queue>-poison``. Events for paths the image root holds or held (the
landing ledger: our own uploads, or files whose authority is the image root) are recorded as ignored, so the
pipeline's own uploads never start a run. The cost of a tick follows what arrived, not what is stored, and a
tick stops taking batches at its deadline.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg

from fer_platform.images.landings.event_log import assign_runs, open_runs, record_events
from fer_platform.images.landings.events import BlobEvent, UndecodableMessage, message_events, parse_event
from fer_platform.images.landings.landing import in_ledger
from fer_platform.images.landings.queue import EventQueue, QueueMessage

VISIBILITY_S = 300  # a received message stays hidden this long; a tick that dies lets it come back
MAX_DELIVERIES = 5
MAX_PER_TICK = 20_000  # messages read per tick at most; the rest wait for the next one
BATCH = 256  # messages received, recorded and deleted together


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


def take_batch(queue: EventQueue, conn: psycopg.Connection, messages: list[QueueMessage], source_root: str,
               split: str, intake: Intake) -> None:
    """Decode, record (one commit), then delete one batch of messages; run keys come at the tick's end."""
    events, usable = decode(queue, messages, source_root, split, intake)
    with conn.transaction():
        events = ours_only(conn, events)
        intake.new_events += record_events(conn, events)
    conn.commit()  # durable before any message goes, even when the caller had a transaction open
    queue.delete(usable)
    intake.received += len(messages)
    intake.ignored.update(e.ignored for e in events if e.ignored)


def take_events(
    queue: EventQueue, conn: psycopg.Connection, source_root: str, split: str, deadline: float = float("inf"),
    visibility_s: int = VISIBILITY_S,
) -> Intake:
    """Receive batches until the queue is empty, ``MAX_PER_TICK`` messages were taken or ``deadline``
    (``time.monotonic``) has passed; each batch is recorded in one commit, then deleted. A batch is
    ``BATCH`` messages: at ~10 ms a request, well inside a tick's time bound."""
    intake = Intake()
    while intake.received < MAX_PER_TICK and time.monotonic() < deadline:
        messages = queue.receive(min(BATCH, MAX_PER_TICK - intake.received), visibility_s)
        if not messages:
            break
        take_batch(queue, conn, messages, source_root, split, intake)
    with conn.transaction():
        assign_runs(conn)  # one run per emotion for the tick's batches (and any a dead tick left without one)
    conn.commit()
    intake.runs = open_runs(conn)
    return intake
