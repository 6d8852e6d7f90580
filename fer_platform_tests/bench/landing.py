"""Landing benchmark: what a landing of 10 images costs in a partition that already holds N, and a tick's time.

    python -m fer_platform_tests.bench landing [--sizes 3000 30000 300000] [--names 10000 100000 1000000]

Landing: one emotion folder (``happy``) of an image root on local disk, the source database and the replica
as two databases of an embedded PostgreSQL 18, the source container and its events queue in Azurite, the lake a
local folder (the same code paths as Azure, through fsspec). The partition is grown to N from the image root by
``fer_pipeline`` with its vectors generated, not embedded: before a growth run the content-addressed store
(``fer_vector_store``) gets a random vector for each new file's sha256, so the run looks them up instead of
running ResNet18 over N images (hours on this CPU). A landing is what production sees: 10 blobs uploaded to the
source container, 10 BlobCreated events on the queue (Event Grid's shape), ``landing_events_sensor`` records
them and asks for a run, and that run executes with the request's tags. The 10 landed images are embedded for
real (FER_WEIGHTS=random). Every run is the whole ``fer_pipeline`` (a growth uploads the grown faces to the
source container and copies them into the lake, as production would). Each landing row: the wall time of the run, the files its scan read (the second
landing after a growth: the first also prunes the change logs the growth left, a cost of the growth), the tuples
read on each database (``pg_stat_user_tables``: ``seq_tup_read + idx_tup_fetch``, all tables), the rows written
(table, replica, Delta) and the bytes written to the lake (Delta data files + images). Tick:
``new_images_sensor`` on an image root of N empty files over 7 folders (a tick never reads them), first tick and
an unchanged one.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from dagster import DagsterInstance, ExecuteInProcessResult, RunRequest
from pgvector.psycopg import register_vector
from PIL import Image

from fer_platform.definitions import build_definitions
from fer_platform.embeddings.vector_store import put
from fer_platform.images.landings.queue import EventQueue
from fer_platform.orchestration.names import PIPELINE_JOB
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import FER2013_EMOTIONS
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform_tests.bench.sensor import evaluated, timed_tick
from fer_platform_tests.support.event_messages import blob_event, message, sequencer
from fer_platform_tests.support.helpers import asset_metadata
from fer_platform_tests.support.servers.azurite import start_azurite
from fer_platform_tests.support.servers.databases import create_database

EMOTION = "happy"
LANDED = 10


def face(i: int) -> bytes:
    """A 48x48 grayscale PNG unique to ``i`` (its number in the first row of pixels)."""
    pixels = np.full((48, 48), i % 251, dtype=np.uint8)
    pixels[0, :8] = np.frombuffer(i.to_bytes(8, "little"), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, format="PNG")
    return out.getvalue()


def add_faces(folder: Path, start: int, stop: int) -> list[str]:
    """Write faces ``start..stop`` into the folder; their sha256s."""
    digests = []
    for i in range(start, stop):
        data = face(i)
        (folder / f"face{i:07d}.png").write_bytes(data)
        digests.append(hashlib.sha256(data).hexdigest())
    return digests


def seed_vectors(dsn: str, model_id: str, digests: list[str]) -> None:
    """Random unit vectors for these contents in the vector store: the growth run looks them up."""
    rng = np.random.default_rng(len(digests))
    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        for at in range(0, len(digests), 20_000):
            chunk = digests[at : at + 20_000]
            vectors = rng.standard_normal((len(chunk), 512), dtype=np.float32)
            put(conn, model_id, chunk, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def tuples_read(dsn: str) -> int:
    """Tuples read so far in the database, all tables (sequential scans and index fetches)."""
    with psycopg.connect(dsn) as conn:
        return int(
            conn.execute(
                "SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0) FROM pg_stat_user_tables"
            ).fetchone()[0]
        )


def pipeline_run(instance: DagsterInstance, tags: dict | None = None) -> ExecuteInProcessResult:
    """``fer_pipeline`` for the emotion, with a sensor request's tags."""
    job = build_definitions(load_settings()).resolve_job_def(PIPELINE_JOB)
    run = job.execute_in_process(partition_key=EMOTION, instance=instance, tags=tags, raise_on_error=False)
    if not run.success:
        failures = [e.message for e in run.all_events if e.is_failure]
        raise RuntimeError(f"the run failed: {failures}")
    return run


def announce(instance: DagsterInstance, n: int) -> RunRequest:
    """Upload faces ``n..n+10`` to the source container, put their BlobCreated events on the queue, and let
    ``landing_events_sensor`` record them: the run it asks for."""
    source = open_location(os.environ["FER_SOURCE_URL"])
    queue = EventQueue(source.url, os.environ["FER_EVENTS_QUEUE"])
    for i in range(n, n + LANDED):
        path = f"train/{EMOTION}/face{i:07d}.png"
        source.fs.pipe_file(source.path(path), face(i))
        queue.main.send_message(message(blob_event(path, sequencer(i + 1), container=source.root)))
    [request] = evaluated(instance, None, "landing_events_sensor").run_requests
    return request


def landing_row(instance: DagsterInstance, n: int, dbs: dict[str, str]) -> str:
    """Land 10 new faces into a folder of ``n`` through blob events and run what the sensor asks for; the table
    row of what the run cost."""
    request = announce(instance, n)
    before = {name: tuples_read(dsn) for name, dsn in dbs.items()}
    start = time.perf_counter()
    run = pipeline_run(instance, request.tags | {"dagster/run_key": request.run_key})
    seconds = time.perf_counter() - start
    time.sleep(1.0)  # the run's backends have exited: their statistics are flushed
    read = {name: tuples_read(dsn) - before[name] for name, dsn in dbs.items()}
    scan, table = asset_metadata(run, "raw_images"), asset_metadata(run, "embeddings_table")
    replica, delta = asset_metadata(run, "azure_replica"), asset_metadata(run, "lakehouse_embeddings")
    images = asset_metadata(run, "lakehouse_images")
    written = (table.get("rows_written", 0), replica["copied_rows"], delta["rows_written"])
    lake_bytes = delta["bytes_written"] + images["bytes_sent"]
    return (
        f"| {n:,} | {seconds:.2f} | {scan['files_hashed']} | {read['source']:,} | {read['replica']:,} | "
        f"{' / '.join(map(str, written))} | {lake_bytes:,} |"
    )


def landing_figures(work: Path, sizes: list[int]) -> None:
    server = embedded_server(work / "pg").get_uri()
    dbs = {name: create_database(server, name) for name in ("source", "replica")}
    folder = work / "images" / "train" / EMOTION
    folder.mkdir(parents=True)
    azurite, connection = start_azurite(None)
    os.environ |= {
        "FER_HOME": str(work / "home"), "FER_IMAGE_ROOT": str(work / "images"), "FER_PG_DSN": dbs["source"],
        "FER_REPLICA_DSN": dbs["replica"], "FER_SOURCE_URL": "az://bench-source", "FER_LAKE_URL": str(work / "lake"),
        "FER_WEIGHTS": "random", "FER_DEVICE": "cpu", "FER_SETTLE_S": "0", "FER_EVENTS_QUEUE": "bench-events",
        "FER_RECONCILE_HOURS": "0", "AZURE_STORAGE_CONNECTION_STRING": connection,
    }
    source = open_location(os.environ["FER_SOURCE_URL"])
    source.ensure()
    EventQueue(source.url, os.environ["FER_EVENTS_QUEUE"]).ensure()
    try:
        grow_and_land(dbs, folder, sizes)
    finally:
        azurite.kill()


def grow_and_land(dbs: dict[str, str], folder: Path, sizes: list[int]) -> None:
    """Grow the partition to each size, then land 10 faces twice; a table row for the second landing."""
    with DagsterInstance.ephemeral() as instance:
        register_emotions(instance, [EMOTION])
        add_faces(folder, 0, LANDED)
        pipeline_run(instance)
        model_id = asset_metadata(pipeline_run(instance), "embeddings_table")["model_id"]
        print("| faces stored (N) | landing run, s | files read | tuples read, source | tuples read, replica |"
              " rows written (table / replica / Delta) | bytes written to the lake |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        stored = LANDED
        for n in sizes:
            seed_vectors(dbs["source"], model_id, add_faces(folder, stored, n))
            start = time.perf_counter()
            pipeline_run(instance)
            grown = time.perf_counter() - start
            landing_row(instance, n, dbs)  # the first landing after a growth prunes the growth's logs
            print(landing_row(instance, n + LANDED, dbs) + f" <!-- grown in {grown:.0f} s -->", flush=True)
            stored = n + 2 * LANDED


def tick_figures(work: Path, names: int) -> None:
    """The first and an unchanged tick of new_images_sensor over ``names`` empty files in 7 folders."""
    root = work / f"names_{names}"
    for k, emotion in enumerate(FER2013_EMOTIONS):
        folder = root / "train" / emotion
        folder.mkdir(parents=True)
        for i in range(k, names, len(FER2013_EMOTIONS)):
            (folder / f"im{i}.png").touch()
    os.environ |= {"FER_IMAGE_ROOT": str(root), "FER_SETTLE_S": "0"}
    with DagsterInstance.ephemeral() as instance:
        first, cursor, runs = timed_tick(instance, None)
        quiet = min(timed_tick(instance, cursor)[0] for _ in range(3))
    print(f"| {names:,} | {first:.3f} ({runs} runs) | {quiet:.3f} |", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench landing")
    parser.add_argument("--sizes", type=int, nargs="*", default=[3_000, 30_000, 300_000])
    parser.add_argument("--names", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fer-bench-landing-") as tmp:
        if args.sizes:
            landing_figures(Path(tmp), args.sizes)
        if args.names:
            print("| names in the image root | first tick, s | unchanged tick, s (best of 3) |")
            print("|---:|---:|---:|")
            for names in args.names:
                tick_figures(Path(tmp), names)
