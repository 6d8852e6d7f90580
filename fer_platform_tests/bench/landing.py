"""Landing benchmark: what a landing of 10 images costs in a partition that already holds N, and a tick's time.

    python -m fer_platform_tests.bench landing [--sizes 3000 30000 300000] [--names 10000 100000 1000000]

Landing: one emotion folder (``happy``) of an image root on local disk, the source database and the replica
as two databases of an embedded PostgreSQL 18, the source container and the lake as local folders (the same
code paths as Azure, through fsspec). The partition is grown to N by ``fer_pipeline`` itself with its vectors
generated, not embedded: before a growth run the content-addressed store (``fer_vector_store``) gets a random
vector for each new file's sha256, so the run looks them up instead of running ResNet18 over N images (hours on
this CPU). The 10 landed images are embedded for real (FER_WEIGHTS=random). Each landing row: the wall time of
the ``fer_pipeline`` run, the files its scan read (the second landing after a growth: the first also prunes
the change logs the growth left, a cost of the growth), the tuples read on each database (``pg_stat_user_tables``:
``seq_tup_read + idx_tup_fetch``, all tables), the rows written (table, replica, Delta) and the bytes written to
the lake (Delta data files + images). Tick: ``new_images_sensor`` on an image root of N empty files over 7
folders (a tick never reads them), first tick and an unchanged one.
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
from dagster import DagsterInstance
from pgvector.psycopg import register_vector
from PIL import Image

from fer_platform.embeddings.vector_store import put
from fer_platform.orchestration.names import PIPELINE_JOB
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import FER2013_EMOTIONS
from fer_platform_tests.bench.sensor import timed_tick
from fer_platform_tests.support.helpers import asset_metadata, run_partition
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


def landing_row(instance: DagsterInstance, folder: Path, n: int, dbs: dict[str, str]) -> str:
    """Land 10 new faces into a folder of ``n`` and run the pipeline for it; the table row of what it cost."""
    add_faces(folder, n, n + LANDED)
    before = {name: tuples_read(dsn) for name, dsn in dbs.items()}
    start = time.perf_counter()
    run = run_partition(EMOTION, instance, PIPELINE_JOB)
    seconds = time.perf_counter() - start
    assert run.success, "the landing run failed"
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
    os.environ |= {
        "FER_HOME": str(work / "home"), "FER_IMAGE_ROOT": str(work / "images"), "FER_PG_DSN": dbs["source"],
        "FER_REPLICA_DSN": dbs["replica"], "FER_SOURCE_URL": str(work / "source"), "FER_LAKE_URL": str(work / "lake"),
        "FER_WEIGHTS": "random", "FER_DEVICE": "cpu", "FER_SETTLE_S": "0",
    }
    with DagsterInstance.ephemeral() as instance:
        add_faces(folder, 0, LANDED)
        assert run_partition(EMOTION, instance, PIPELINE_JOB).success
        model_id = asset_metadata(run_partition(EMOTION, instance, PIPELINE_JOB), "embeddings_table")["model_id"]
        print("| faces stored (N) | landing run, s | files read | tuples read, source | tuples read, replica |"
              " rows written (table / replica / Delta) | bytes written to the lake |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        stored = LANDED
        for n in sizes:
            seed_vectors(dbs["source"], model_id, add_faces(folder, stored, n))
            start = time.perf_counter()
            assert run_partition(EMOTION, instance, PIPELINE_JOB).success, f"growing to {n} failed"
            grown = time.perf_counter() - start
            landing_row(instance, folder, n, dbs)  # the first landing after a growth prunes the growth's logs
            print(landing_row(instance, folder, n + LANDED, dbs) + f" <!-- grown in {grown:.0f} s -->", flush=True)
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
