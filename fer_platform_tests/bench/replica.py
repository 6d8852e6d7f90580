"""Replica benchmark: partition sync (streamed binary COPY) vs pg_dump/pg_restore of the same rows.

Two embedded PostgreSQL 18 + pgvector servers (source and replica) on this
machine; 28,709 synthetic rows over 7 emotions, as many as FER2013's train split.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from fer_platform.postgres.embedded import embedded_server
from fer_platform.replica.migrate import find_tools, migrate
from fer_platform.replica.sync import ensure_sync_state, sync_partition
from fer_platform.sample_data import FER2013_EMOTIONS
from fer_platform.table.change_log import ensure_change_log, ensure_objects
from fer_platform.table.rows import PartitionDelta, write_delta
from fer_platform.table.schema import ensure_table

TABLE = "imagenes_fer"


def fill_source(dsn: str, rows: int) -> None:
    """``rows`` synthetic embeddings spread over the 7 FER2013 emotions."""
    rng = np.random.default_rng(0)
    with psycopg.connect(dsn) as conn:
        ensure_table(conn)
        register_vector(conn)
        for k, emotion in enumerate(FER2013_EMOTIONS):
            n = rows // 7 + (1 if k < rows % 7 else 0)
            paths = [f"train/{emotion}/im{i}.png" for i in range(n)]
            vectors = rng.random((n, 512), dtype=np.float32)
            write_delta(conn, TABLE, PartitionDelta(emotion, "bench", paths, ["0" * 64] * n, vectors, []))


def reset(dsn: str) -> None:
    """An empty replica that can receive a dump of the source table (whose triggers call these functions)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS imagenes_fer")
        conn.execute("DROP TABLE IF EXISTS fer_sync_state")
        ensure_objects(conn)


def time_sync(source: str, replica: str) -> float:
    reset(replica)
    with psycopg.connect(replica) as conn:
        ensure_table(conn)
        ensure_sync_state(conn)
    start = time.perf_counter()
    with psycopg.connect(source) as src, psycopg.connect(replica) as rep:
        ensure_change_log(src, TABLE)
        for emotion in FER2013_EMOTIONS:
            sync_partition(src, rep, TABLE, emotion)
    return time.perf_counter() - start


def time_seed_dump_restore(source: str, replica: str, work: Path) -> tuple[float, float]:
    """The seed's commands: ``pg_dump -Fc`` to a file, ``pg_restore`` of that file."""
    reset(replica)
    bin_dir = find_tools(18)
    dump = work / "fer_vct_backup.dump"
    start = time.perf_counter()
    subprocess.run(
        [str(bin_dir / "pg_dump"), "-Fc", f"--table={TABLE}", f"--file={dump}", f"--dbname={source}"],
        check=True,
    )
    dump_s = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(
        [str(bin_dir / "pg_restore"), "--no-owner", "--no-privileges", f"--dbname={replica}", str(dump)],
        check=True,
    )
    return dump_s, time.perf_counter() - start


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench replica")
    parser.add_argument("--rows", type=int, default=28_709)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fer_bench_replica_"))
    try:
        source = embedded_server(work / "source").get_uri()
        replica = embedded_server(work / "replica").get_uri()
        fill_source(source, args.rows)
        sync_s = time_sync(source, replica)
        noop_start = time.perf_counter()
        with psycopg.connect(source) as src, psycopg.connect(replica) as rep:
            for emotion in FER2013_EMOTIONS:
                sync_partition(src, rep, TABLE, emotion)
        noop_s = time.perf_counter() - noop_start
        dump_s, restore_s = time_seed_dump_restore(source, replica, work)
        reset(replica)
        ours = migrate(source, replica, TABLE)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seed_s = dump_s + restore_s
    print(f"rows={args.rows} (7 partitions), two embedded PostgreSQL 18.4 + pgvector 0.8.5 servers")
    print("| path | seconds | rows/s |\n|---|---|---|")
    print(f"| partition sync, all 7 partitions into an empty replica | {sync_s:.2f} | {args.rows / sync_s:,.0f} |")
    print(f"| partition sync again, nothing changed (change log + maintained aggregates) | {noop_s:.2f} | - |")
    print(
        f"| seed: pg_dump -Fc ({dump_s:.2f} s) + pg_restore ({restore_s:.2f} s) | {seed_s:.2f} | "
        f"{args.rows / seed_s:,.0f} |"
    )
    print(
        f"| migration job: pg_dump -Fd -Z0 -j ({ours.dump_s:.2f} s) + pg_restore -j ({ours.restore_s:.2f} s) | "
        f"{ours.dump_s + ours.restore_s:.2f} | {args.rows / (ours.dump_s + ours.restore_s):,.0f} |"
    )
    print(f"\nratio: sync vs seed dump/restore = {seed_s / sync_s:.1f}x (target >= 10x)")
