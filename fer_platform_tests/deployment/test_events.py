"""The compose services following Azure Blob events (FER_EVENTS_QUEUE): a blob uploaded to Azurite with the
BlobCreated message Event Grid would deliver becomes searchable through the daemon."""

import shutil
import time
import uuid

import psycopg
import pytest

from fer_platform.images.landings.queue import EventQueue
from fer_platform.storage.location import open_location
from fer_platform_tests.support.event_messages import blob_event, message, sequencer
from fer_platform_tests.support.servers.deployment import (
    platform_env,
    running_platform,
    sensor_runs,
    wait_for_runs,
)

pytestmark = pytest.mark.slow  # the daemon following blob events end to end


def nearest(dsn: str, filepath: str) -> str | None:
    """The replica's nearest neighbour of ``filepath``'s own vector (what the search answers first), or None."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT n.filepath FROM imagenes_fer q, imagenes_fer n WHERE q.filepath = %s "
            "ORDER BY n.vector <=> q.vector, n.filepath = q.filepath DESC LIMIT 1",
            (filepath,),
        ).fetchone()
    return row[0] if row else None


@pytest.mark.timeout(900)
def test_a_blob_uploaded_with_its_event_becomes_searchable_through_the_daemon(
    azure_env, image_root, dagster_pg_url, tmp_path
):
    """FER_EVENTS_QUEUE: Azurite's queue holds the BlobCreated event Event Grid would deliver; the daemon's sensor
    takes it, the run lands exactly that blob, and it reaches the replica, where a search finds it."""
    for other in ("angry", "sad"):
        shutil.rmtree(image_root / "train" / other)
    name = f"events-{uuid.uuid4().hex[:10]}"
    env = platform_env(azure_env, dagster_pg_url, tmp_path) | {"FER_EVENTS_QUEUE": name, "FER_RECONCILE_HOURS": "0"}
    source = open_location(azure_env["FER_SOURCE_URL"])
    source.ensure()
    queue = EventQueue(source.url, name)
    queue.ensure()
    with running_platform(env, tmp_path / "logs") as url:
        [first] = wait_for_runs(url, set(), 1, timeout=300)  # a fresh cursor: the image root's folder is news
        assert first["status"] == "SUCCESS"
        path = "train/happy/from_event.png"
        source.fs.pipe_file(source.path(path), next((image_root / "test" / "sad").iterdir()).read_bytes())
        queue.main.send_message(message(blob_event(path, sequencer(1), container=source.root), encoded=True))
        deadline = time.monotonic() + 300
        while nearest(azure_env["FER_REPLICA_DSN"], path) != path:
            assert time.monotonic() < deadline, f"{path} never became searchable: {sensor_runs(url)}"
            time.sleep(2)
        event_runs = wait_for_runs(url, set(), 1, timeout=300, trigger="landing_events_sensor")
        assert [r["status"] for r in event_runs] == ["SUCCESS"], event_runs
        time.sleep(10)  # five ticks of the image-root sensor: the landing's download is its run's, no echo
        assert [r["runId"] for r in sensor_runs(url)] == [first["runId"]], sensor_runs(url)
    assert queue.receive(10, 1) == [] and queue.poison_count() == 0
