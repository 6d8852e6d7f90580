"""``fer-platform events``: the poison queue replayed on a real Azurite queue, abandoned landings re-opened on a
real PostgreSQL, and a clear refusal without an events queue."""

import uuid

import psycopg
from click.testing import CliRunner

from fer_platform.cli import main
from fer_platform.images.landings.event_log import record_events
from fer_platform.images.landings.events import BlobEvent
from fer_platform.images.landings.queue import EventQueue
from fer_platform_tests.support.event_messages import blob_event, message, sequencer


def test_replay_poison_moves_the_messages_back(azure_env, monkeypatch):
    name = f"events-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("FER_EVENTS_QUEUE", name)
    queue = EventQueue(azure_env["FER_SOURCE_URL"], name)
    queue.ensure()
    for n in (1, 2):
        queue.poison.send_message(message(blob_event(f"train/happy/{n}.png", sequencer(n))))
    result = CliRunner().invoke(main, ["events", "replay-poison"])
    assert result.exit_code == 0, result.output
    assert f"moved 2 message(s) from {name}-poison back to {name}" in result.output
    assert queue.poison_count() == 0 and len(queue.receive(10, 30)) == 2


def test_replay_poison_without_an_events_queue_says_so(fer_env):
    result = CliRunner().invoke(main, ["events", "replay-poison"])
    assert result.exit_code != 0 and "FER_EVENTS_QUEUE is not set" in result.output


def test_retry_abandoned_reopens_the_events_with_a_fresh_key(fer_env):
    with psycopg.connect(fer_env["FER_PG_DSN"], autocommit=True) as conn:
        url = "https://account.blob.core.windows.net/c/train/sad/x.png"
        event = BlobEvent("c/train/sad/x.png", url, None, "1", "created", "train/sad/x.png", "sad")
        record_events(conn, [event])
        conn.execute("UPDATE fer_landing_events SET run_key = 'sad@events:1~3', tries = 2, abandoned_at = now()")
    result = CliRunner().invoke(main, ["events", "retry-abandoned"])
    assert result.exit_code == 0 and "re-opened 1 abandoned event(s)" in result.output
    with psycopg.connect(fer_env["FER_PG_DSN"]) as conn:
        key, tries, abandoned = conn.execute("SELECT run_key, tries, abandoned_at FROM fer_landing_events").fetchone()
    assert key.startswith("sad@events:1~r") and tries == 0 and abandoned is None
