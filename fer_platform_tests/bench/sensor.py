"""Sensor benchmark: tick time on large folders, and the latency from an image landing to its row
being in the replica and the lake with the daemon running.

    python -m fer_platform_tests.bench sensor [--files 28709 287090] [--samples 5]

Tick: the real sensor function on folders of N files over 7 emotions (files are not read,
so their content does not matter), side by side with a naive change detector that hashes
every file. Latency: the docker-compose services (code location, webserver, daemon) on an
embedded PostgreSQL and Azurite; one image is copied into a folder and the clock stops when
its row is in the replica and its path in the lake's Delta table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from dagster import DagsterInstance, SensorResult, build_sensor_context

from fer_platform.definitions import build_definitions
from fer_platform.factory import Platform
from fer_platform.images.landings.queue import EventQueue
from fer_platform.lake.delta import embeddings_target, read_partition
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.orchestration.resources import shared_resources
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import FER2013_EMOTIONS, write_sample_dataset
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform_tests.support.event_messages import blob_event, message, sequencer
from fer_platform_tests.support.servers.azurite import start_azurite
from fer_platform_tests.support.servers.databases import create_database, dagster_storage_url
from fer_platform_tests.support.servers.deployment import instance_home, loopback_ports, running_platform, wait_for_runs


def make_folders(root: Path, files: int) -> None:
    """``files`` small files spread over the 7 FER2013 emotion folders."""
    for i in range(files):
        emotion = FER2013_EMOTIONS[i % len(FER2013_EMOTIONS)]
        folder = root / "train" / emotion
        if i < len(FER2013_EMOTIONS):
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"im{i}.png").write_bytes(b"\x89PNG" + i.to_bytes(8, "little") * 8)


def evaluated(instance: DagsterInstance, cursor: str | None, sensor: str = "new_images_sensor") -> SensorResult:
    """One evaluation of the real sensor, with the platform's resources, as the daemon runs it."""
    settings = load_settings()
    resources = {k: v for k, v in shared_resources(Platform(settings)).items() if k in ("images", "postgres")}
    definition = build_definitions(settings).resolve_sensor_def(sensor)
    return definition(build_sensor_context(instance=instance, cursor=cursor, resources=resources))


def timed_tick(instance: DagsterInstance, cursor: str | None) -> tuple[float, str | None, int]:
    """(seconds, next cursor, runs requested) of one evaluation of ``new_images_sensor``."""
    start = time.perf_counter()
    result = evaluated(instance, cursor)
    return time.perf_counter() - start, result.cursor, len(result.run_requests)


def naive_scan(root: Path) -> float:
    """Seconds to hash every file (what a sensor reading the files would pay per tick)."""
    start = time.perf_counter()
    for path in (root / "train").rglob("*.png"):
        hashlib.sha256(path.read_bytes()).hexdigest()
    return time.perf_counter() - start


def tick_figures(files: int, work: Path) -> None:
    root = work / f"images_{files}"
    make_folders(root, files)
    os.environ |= {"FER_IMAGE_ROOT": str(root), "FER_HOME": str(work / "home"), "FER_SETTLE_S": "0"}
    with DagsterInstance.ephemeral() as instance:
        register_emotions(instance, list(FER2013_EMOTIONS))
        first, cursor, runs_first = timed_tick(instance, None)
        quiet = [timed_tick(instance, cursor)[0] for _ in range(3)]
        for i in range(10):
            (root / "train" / "happy" / f"new{i}.png").write_bytes(b"new")
        changed, _, runs_changed = timed_tick(instance, cursor)
    naive = naive_scan(root)
    print(
        f"| {files:,} | {first:.2f} ({runs_first} runs) | {statistics.median(quiet):.2f} | "
        f"{changed:.2f} ({runs_changed} run) | {naive:.2f} | {naive / statistics.median(quiet):.1f}x |"
    )


def in_lake(lake_url: str, emotion: str, lake_path: str) -> bool:
    rows = read_partition(embeddings_target(open_location(lake_url)), emotion, ["filepath"])
    return len(rows) > 0 and lake_path in rows["filepath"].to_list()


def in_replica(dsn: str, filepath: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT 1 FROM imagenes_fer WHERE filepath = %s", (filepath,)).fetchone() is not None


def land_by_event(env: dict, name: str, image: bytes) -> None:
    """What Azure does when a blob lands: the blob, then Event Grid's BlobCreated message in the queue."""
    source = open_location(env["FER_SOURCE_URL"])
    source.fs.pipe_file(source.path(f"train/happy/{name}"), image)
    event = blob_event(f"train/happy/{name}", sequencer(int(time.time() * 1e6)), container=source.root)
    EventQueue(source.url, env["FER_EVENTS_QUEUE"]).main.send_message(message(event))


def landing_latency(
    work: Path, samples: int, interval_s: int, settle_s: float, events_queue: str | None = None
) -> list[float]:
    """Seconds from an image landing (copied into the image root, or, with ``events_queue``, uploaded to the
    source container with its event) to its row in the replica and its path in the lake's Delta table."""
    work = work / ("events" if events_queue else "folder")
    root = work / "latency_images"
    write_sample_dataset(root, per_class=10, test_per_class=1, emotions=("happy", "sad"))
    server = embedded_server(work / "pg").get_uri()
    dbs = {name: create_database(server, name) for name in ("source", "replica", "dagster")}
    azurite, conn_str = start_azurite(work / "azurite")
    env = dict(os.environ) | {
        "DAGSTER_HOME": str(instance_home(work / "dagster_home")),
        "DAGSTER_PG_URL": dagster_storage_url(dbs["dagster"]),
        "FER_HOME": str(work / "home"),
        "FER_IMAGE_ROOT": str(root),
        "FER_PG_DSN": dbs["source"],
        "FER_REPLICA_DSN": dbs["replica"],
        "FER_SOURCE_URL": "az://origen-imagenes-fer",
        "FER_LAKE_URL": "az://datalake/fer",
        "FER_WEIGHTS": "random",
        "FER_DEVICE": "cpu",
        "FER_SENSOR_INTERVAL_S": str(interval_s),
        "FER_SETTLE_S": str(settle_s),
        "AZURE_STORAGE_CONNECTION_STRING": conn_str,
    } | loopback_ports() | ({"FER_EVENTS_QUEUE": events_queue, "FER_RECONCILE_HOURS": "0"} if events_queue else {})
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = conn_str
    if events_queue:
        open_location(env["FER_SOURCE_URL"]).ensure()
        EventQueue(env["FER_SOURCE_URL"], events_queue).ensure()
    latencies = []
    try:
        with running_platform(env, work / "logs") as url:
            known = {r["runId"] for r in wait_for_runs(url, set(), 2, timeout=600)}  # the first tick: both folders
            source = root / "train" / "happy" / "im0.png"
            for i in range(samples):
                name = f"landed_{i}.png"
                start = time.monotonic()
                if events_queue:
                    land_by_event(env, name, source.read_bytes())
                else:
                    shutil.copy(source, root / "train" / "happy" / name)
                while not (
                    in_replica(dbs["replica"], f"train/happy/{name}")
                    and in_lake(env["FER_LAKE_URL"], "happy", f"raw/images/fer2013/train/happy/{name}")
                ):
                    time.sleep(0.25)
                latencies.append(time.monotonic() - start)
                known |= {r["runId"] for r in wait_for_runs(url, known, 1, timeout=300)}
                print(f"  sample {i + 1}: {latencies[-1]:.1f} s")
    finally:
        azurite.terminate()
    return latencies


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench sensor")
    parser.add_argument("--files", type=int, nargs="*", default=[28_709, 287_090])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--interval", type=int, default=5, help="FER_SENSOR_INTERVAL_S for the latency runs")
    parser.add_argument("--settle", type=float, default=1.0, help="FER_SETTLE_S for the latency runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fer-bench-sensor-") as tmp:
        work = Path(tmp)
        if args.files:
            print(
                "| files | first tick, s | unchanged tick, s (median of 3) | tick after 10 new files, s |"
                " hashing every file, s | unchanged tick vs hashing |"
            )
            print("|---:|---:|---:|---:|---:|---:|")
            for files in args.files:
                tick_figures(files, work)
        if args.samples:
            latencies = landing_latency(work, args.samples, args.interval, args.settle)
            print(
                f"landing -> replica + lake, {len(latencies)} samples, FER_SENSOR_INTERVAL_S={args.interval}, "
                f"FER_SETTLE_S={args.settle}: median {statistics.median(latencies):.1f} s, "
                f"min {min(latencies):.1f} s, max {max(latencies):.1f} s"
            )
