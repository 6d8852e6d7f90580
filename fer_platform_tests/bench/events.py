"""Events benchmark (issue 21): a sensor tick that lists the source container vs one that follows its blob
events, when 10 images land among N existing blobs; and landing-to-searchable latency with events.

    python -m fer_platform_tests.bench events [--blobs 1000 10000 100000] [--samples 5]

Tick: the real ``new_images_sensor`` on Azurite (Blob + Queue) and an embedded PostgreSQL, both modes side by
side in one run on the same container: listing (``FER_EVENTS_QUEUE`` unset) pays for every stored blob,
events pay for the 10 messages. Latency: the docker-compose services (code location, webserver, daemon); a
blob is uploaded with its BlobCreated message and the clock stops when its row is in the replica and its
path in the lake (``bench.sensor.landing_latency``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.storage.blob import BlobServiceClient
from dagster import DagsterInstance

from fer_platform.images.landings.queue import EventQueue
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import FER2013_EMOTIONS
from fer_platform.storage.location import Location, open_location
from fer_platform_tests.bench.sensor import landing_latency, timed_tick
from fer_platform_tests.support.event_messages import blob_event, message, sequencer
from fer_platform_tests.support.servers.azurite import start_azurite
from fer_platform_tests.support.servers.databases import create_database

LANDED = 10


def fill(source: Location, names: list[str]) -> None:
    """Tiny blobs (a tick never reads them), uploaded by 32 threads through one container client."""
    container = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    client = container.get_container_client(source.root.split("/")[0])
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda name: client.upload_blob(name, b"\x89PNG", overwrite=True), names))


def names_of(count: int, prefix: str) -> list[str]:
    return [f"train/{FER2013_EMOTIONS[i % 7]}/{prefix}{i}.png" for i in range(count)]


def tick_pair(blobs: int, work: Path, server: str) -> tuple[float, float]:
    """(listing tick, events tick) in seconds after ``LANDED`` images land among ``blobs`` stored ones."""
    root = work / f"root_{blobs}"
    for emotion in FER2013_EMOTIONS:
        (root / "train" / emotion).mkdir(parents=True)
    os.environ |= {
        "FER_IMAGE_ROOT": str(root),
        "FER_SOURCE_URL": f"az://bench-{uuid.uuid4().hex[:8]}",
        "FER_PG_DSN": create_database(server),
        "FER_RECONCILE_HOURS": "0",
    }
    os.environ.pop("FER_EVENTS_QUEUE", None)
    source = open_location(os.environ["FER_SOURCE_URL"])
    source.ensure()
    fill(source, names_of(blobs, "stored"))
    with DagsterInstance.ephemeral() as instance:
        register_emotions(instance, list(FER2013_EMOTIONS))
        _, cursor, _ = timed_tick(instance, None)
        fill(source, names_of(LANDED, "listed"))
        listing, _, _ = timed_tick(instance, cursor)
        os.environ["FER_EVENTS_QUEUE"] = f"events-{uuid.uuid4().hex[:8]}"
        queue = EventQueue(source.url, os.environ["FER_EVENTS_QUEUE"])
        queue.ensure()
        _, cursor, _ = timed_tick(instance, None)
        landed = names_of(LANDED, "evented")
        fill(source, landed)
        for k, name in enumerate(landed):
            queue.main.send_message(message(blob_event(name, sequencer(k + 1), container=source.root)))
        events, _, runs = timed_tick(instance, cursor)
    assert runs == len(set(name.split("/")[1] for name in landed)), runs
    return listing, events


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench events")
    parser.add_argument("--blobs", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--interval", type=int, default=5, help="FER_SENSOR_INTERVAL_S for the latency runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fer-bench-events-") as tmp:
        work = Path(tmp)
        os.environ |= {"FER_HOME": str(work / "home"), "FER_SETTLE_S": "0"}
        azurite, conn_str = start_azurite(None)
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = conn_str
        try:
            server = embedded_server(work / "pg").get_uri()
            print("| stored blobs | listing tick, s | events tick, s | listing / events |\n|---:|---:|---:|---:|")
            for blobs in args.blobs:
                listing, events = tick_pair(blobs, work, server)
                print(f"| {blobs:,} | {listing:.2f} | {events:.2f} | {listing / events:.1f}x |", flush=True)
        finally:
            azurite.terminate()
        if args.samples:
            for name in ("FER_IMAGE_ROOT", "FER_SOURCE_URL", "FER_PG_DSN", "FER_EVENTS_QUEUE"):
                os.environ.pop(name, None)
            latencies = sorted(landing_latency(work, args.samples, args.interval, 1.0, "fer-blob-events"))
            p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
            print(
                f"blob + event -> replica + lake, {len(latencies)} samples, FER_SENSOR_INTERVAL_S={args.interval}: "
                f"median {statistics.median(latencies):.1f} s, p95 {p95:.1f} s, max {latencies[-1]:.1f} s"
            )
