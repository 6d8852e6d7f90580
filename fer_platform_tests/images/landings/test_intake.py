"""The events queue on a real Azurite queue service and PostgreSQL: recording, run keys, ordering, poison,
a SIGKILL between commit and delete, batches, the poison queue replayed, and an unreachable account."""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from fer_platform.images.landings import intake as intake_module
from fer_platform.images.landings.event_log import blobs_to_land
from fer_platform.images.landings.intake import MAX_DELIVERIES, take_events
from fer_platform.images.landings.landing import record
from fer_platform.images.landings.queue import EventQueue, QueueUnavailableError
from fer_platform.storage.location import open_location
from fer_platform_tests.support.constants import AZURITE_KEY, REPO
from fer_platform_tests.support.event_messages import blob_event, message, sequencer


@pytest.fixture
def source(azurite, monkeypatch):
    """A fresh source container and events queue in Azurite."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    location = open_location(f"az://src-{uuid.uuid4().hex[:10]}")
    location.ensure()
    queue = EventQueue(location.url, f"events-{uuid.uuid4().hex[:10]}")
    queue.ensure()
    return location, queue


def publish(queue: EventQueue, *bodies: str) -> None:
    for body in bodies:
        queue.main.send_message(body)


def created(location, path: str, n: int, kind: str = "BlobCreated") -> str:
    return message(blob_event(path, sequencer(n), kind, container=location.root))


def test_touched_emotions_get_one_run_each_and_duplicates_change_nothing(source, conn):
    location, queue = source
    bodies = [created(location, "train/happy/a.png", 1), created(location, "train/sad/b.png", 2)]
    publish(queue, *bodies, bodies[0])  # one delivered twice
    first = take_events(queue, conn, location.root, "train")
    assert first.received == 3 and first.new_events == 2 and sorted(first.runs.values()) == ["happy", "sad"]
    publish(queue, *bodies)  # delivered again later
    again = take_events(queue, conn, location.root, "train")
    assert again.new_events == 0 and again.runs == first.runs
    assert queue.receive(10, 1) == []  # every message deleted
    [happy_key] = [k for k, e in first.runs.items() if e == "happy"]
    assert blobs_to_land(conn, "happy", happy_key) == ["train/happy/a.png"]


def test_the_newest_event_of_a_blob_wins_whatever_the_arrival_order(source, conn):
    location, queue = source
    publish(
        queue,
        created(location, "train/happy/gone.png", 5, "BlobDeleted"),  # the delete arrives first
        created(location, "train/happy/gone.png", 4),
        created(location, "train/happy/kept.png", 9),  # the newer create arrives first
        created(location, "train/happy/kept.png", 3, "BlobDeleted"),
    )
    take_events(queue, conn, location.root, "train")
    assert blobs_to_land(conn, "happy", None) == ["train/happy/kept.png"]


def test_undecodable_and_redelivered_messages_go_to_the_poison_queue(source, conn):
    location, queue = source
    truncated = created(location, "train/happy/a.png", 1)[:-9]
    publish(queue, "not json", truncated, created(location, "train/happy/b.png", 2))
    intake = take_events(queue, conn, location.root, "train")
    assert len(intake.poisoned) == 2 and intake.new_events == 1 and queue.poison_count() == 2
    publish(queue, created(location, "train/happy/c.png", 3))
    for _ in range(MAX_DELIVERIES):  # delivered and never deleted, as by a tick that keeps dying
        assert queue.receive(1, 1)
        time.sleep(1.2)
    intake = take_events(queue, conn, location.root, "train")
    assert intake.poisoned and "delivered 6 times" in intake.poisoned[0] and queue.poison_count() == 3


def test_events_for_paths_the_image_root_holds_start_nothing(source, conn):
    location, queue = source
    with conn.transaction():
        record(conn, {"train/happy/ours.png"})
    publish(queue, created(location, "train/happy/ours.png", 1))
    intake = take_events(queue, conn, location.root, "train")
    assert intake.runs == {} and sum(intake.ignored.values()) == 1


KILLED_TICK = """
import os, signal, sys
import psycopg
from fer_platform.images.landings.intake import take_events
from fer_platform.images.landings.queue import EventQueue
queue = EventQueue(sys.argv[1], sys.argv[2])
EventQueue.delete = lambda self, messages: os.kill(os.getpid(), signal.SIGKILL)  # dies after the commit
with psycopg.connect(sys.argv[3], autocommit=True) as conn:
    take_events(queue, conn, sys.argv[4], "train", visibility_s=2)
"""


def test_a_tick_killed_between_commit_and_delete_is_repeated_harmlessly(source, conn, pg_dsn):
    location, queue = source
    publish(queue, created(location, "train/happy/a.png", 1), created(location, "train/sad/b.png", 2))
    args = [location.url, queue.name, pg_dsn, location.root]
    proc = subprocess.run([sys.executable, "-c", KILLED_TICK, *args], cwd=REPO, env=dict(os.environ), timeout=120)
    assert proc.returncode == -signal.SIGKILL
    committed = conn.execute("SELECT blob, sequencer FROM fer_landing_events ORDER BY blob").fetchall()
    assert len(committed) == 2  # recorded; their run keys come at the end of a tick
    time.sleep(2.5)  # the visibility timeout of the killed tick's messages ends: they come back
    intake = take_events(queue, conn, location.root, "train")
    assert intake.received == 2 and intake.new_events == 0
    keyed = conn.execute("SELECT blob, sequencer, run_key FROM fer_landing_events ORDER BY blob").fetchall()
    assert [row[:2] for row in keyed] == committed and sorted(intake.runs) == sorted(key for _, _, key in keyed)
    assert queue.receive(10, 1) == []


def test_batches_are_recorded_and_deleted_until_the_queue_is_empty(source, conn, monkeypatch):
    monkeypatch.setattr(intake_module, "BATCH", 3)  # 10 messages: four batches, each deleted concurrently
    location, queue = source
    publish(queue, *[created(location, f"train/happy/{i}.png", i + 1) for i in range(10)])
    taken = take_events(queue, conn, location.root, "train", deadline=time.monotonic() + 60)
    assert taken.received == 10 and taken.new_events == 10 and len(taken.runs) == 1
    assert queue.receive(10, 1) == []


def test_a_tick_past_its_deadline_takes_one_batch_and_leaves_the_rest(source, conn, monkeypatch):
    monkeypatch.setattr(intake_module, "BATCH", 4)
    location, queue = source
    publish(queue, *[created(location, f"train/sad/{i}.png", i + 1) for i in range(6)])
    assert take_events(queue, conn, location.root, "train", deadline=0).received == 0  # the budget was spent
    assert take_events(queue, conn, location.root, "train").received == 6


def test_poison_messages_are_replayed_into_the_queue(source, conn):
    location, queue = source
    body = created(location, "train/happy/late.png", 1)
    queue.poison.send_message(body)  # e.g. set aside after too many deliveries during an outage
    assert queue.replay_poison(100) == 1 and queue.poison_count() == 0
    assert take_events(queue, conn, location.root, "train").new_events == 1
    assert blobs_to_land(conn, "happy", None) == ["train/happy/late.png"]


@pytest.mark.slow  # waits out the retries
def test_an_unreachable_account_is_named_without_its_key(monkeypatch):
    port = 9  # discard: nothing listens there on loopback
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        f"DefaultEndpointsProtocol=http;AccountName=fakeacct;AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/fakeacct;QueueEndpoint=http://127.0.0.1:{port}/fakeacct;",
    )
    queue = EventQueue("az://origen", "events")
    with pytest.raises(QueueUnavailableError) as failure:
        queue.receive(10, 30)
    assert "'fakeacct'" in str(failure.value) and "'events'" in str(failure.value)
    assert AZURITE_KEY not in str(failure.value)

