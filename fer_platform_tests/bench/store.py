"""Vector-store benchmark: resume after SIGKILL, byte-identical copies, and the classifier re-run.

Side by side in one run on the same synthetic partition and one embedded PostgreSQL + pgvector:
(1) an uninterrupted partition run, (2) the same run SIGKILLed at ``--kill-at`` of (1)'s wall time
and run again (the second run's wall time / (1)), (3) the partition with ``--duplicates`` of its
files replaced by byte-identical copies of others (model forwards = distinct contents), and (4)
``emotion_classifier`` materialized twice with nothing changed (second / first wall time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from dagster import DagsterInstance

from fer_platform.definitions import build_definitions
from fer_platform.embeddings.vector_store import PgVectorStore
from fer_platform.factory import Platform
from fer_platform.orchestration.names import CLASSIFIER_JOB
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.orchestration.resources import shared_resources
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings
from fer_platform_tests.bench.embeddings import partition_code_path

EMOTION = "happy"


def run_partition(dsn: str, emotion: str = EMOTION) -> tuple[int, float]:
    """The asset's code path for one partition (the embedding benchmark's): (embedded, seconds)."""
    start = time.perf_counter()
    resources = shared_resources(Platform(load_settings()))
    store = PgVectorStore(dsn, resources["embedder"].model().model_id)
    store.prepare()
    embedded = partition_code_path(resources["images"], resources["embedder"], dsn, emotion, store)
    return embedded, time.perf_counter() - start


def fresh_database(server_uri: str, name: str) -> str:
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_uri.replace("/postgres?", f"/{name}?")


def killed_then_resumed(dsn: str, kill_after_s: float) -> tuple[int, int, float]:
    """SIGKILL a partition run after ``kill_after_s``; then run again: (stored at kill, embedded, seconds)."""
    ready = Path(tempfile.mkdtemp()) / "started"
    code = (
        "import pathlib; from fer_platform_tests.bench.store import run_partition; "
        f"pathlib.Path({str(ready)!r}).touch(); run_partition({dsn!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=os.environ | {"FER_PG_DSN": dsn})
    while not ready.exists():  # the clock starts when the run does, not when Python starts
        time.sleep(0.05)
    time.sleep(kill_after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass('fer_vector_store') IS NOT NULL").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM fer_vector_store").fetchone()[0] if exists else 0
    embedded, seconds = run_partition(dsn)
    return stored, embedded, seconds


def make_duplicates(folder: Path, count: int) -> None:
    """Replace ``count`` files by byte-identical copies of others (same names, so the count stays)."""
    files = sorted(folder.iterdir())
    for i, path in enumerate(files[:count]):
        shutil.copy(files[count + i % (len(files) - count)], path)


def classifier_runs() -> tuple[float, float]:
    defs = build_definitions(load_settings())
    times = []
    with DagsterInstance.ephemeral() as instance:
        register_emotions(instance, [EMOTION, "sad"])
        for _ in range(2):
            start = time.perf_counter()
            assert defs.resolve_job_def(CLASSIFIER_JOB).execute_in_process(instance=instance).success
            times.append(time.perf_counter() - start)
    return times[0], times[1]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench store")
    parser.add_argument("--images", type=int, default=5000, help="images in the partition")
    parser.add_argument("--test-images", type=int, default=1000, help="test-split images for the classifier")
    parser.add_argument("--kill-at", type=float, default=0.8, help="share of the uninterrupted wall time")
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of byte-identical copies")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fer_bench_store_"))
    os.environ |= {"FER_HOME": str(work / "home"), "FER_IMAGE_ROOT": str(work / "images"), "FER_DEVICE": "cpu"}
    os.environ.setdefault("FER_WEIGHTS", "random")
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    per_test = args.test_images // 2
    write_sample_dataset(work / "images", per_class=args.images, test_per_class=per_test, emotions=(EMOTION,))
    write_sample_dataset(work / "sad", per_class=20, test_per_class=per_test, emotions=("sad",))
    for split in ("train", "test"):
        shutil.move(work / "sad" / split / "sad", work / "images" / split / "sad")
    server_uri = embedded_server(work / "pgdata").get_uri()
    full_embedded, full_s = run_partition(fresh_database(server_uri, "uninterrupted"))
    stored, resumed_embedded, resumed_s = killed_then_resumed(
        fresh_database(server_uri, "killed"), args.kill_at * full_s
    )
    duplicates = int(args.images * args.duplicates)
    make_duplicates(work / "images" / "train" / EMOTION, duplicates)
    dup_embedded, dup_s = run_partition(fresh_database(server_uri, "duplicates"))
    os.environ["FER_PG_DSN"] = dsn = fresh_database(server_uri, "classifier")
    run_partition(dsn)
    run_partition(dsn, "sad")
    first_s, second_s = classifier_runs()
    print(f"partition={EMOTION} images={args.images} weights={os.environ['FER_WEIGHTS']} (2 cores, CPU)")
    print("| measure | value |\n|---|---|")
    print(f"| (1) uninterrupted partition run | {full_s:.1f} s, {full_embedded} embedded |")
    print(
        f"| (2) SIGKILL at {args.kill_at:.0%} of (1) ({args.kill_at * full_s:.0f} s): vectors stored by then | {stored} |"
    )
    print(f"| (2) the run after the kill | {resumed_s:.1f} s, {resumed_embedded} embedded |")
    print(
        f"| (3) {duplicates} of {args.images} files byte-identical copies: model forwards | {dup_embedded} ({args.images - duplicates} distinct contents), {dup_s:.1f} s |"
    )
    print(f"| (4) emotion_classifier, first run ({args.test_images} test images) | {first_s:.1f} s |")
    print(f"| (4) emotion_classifier, again with nothing changed | {second_s:.1f} s |")
    print(
        f"\nratios: resume / uninterrupted = {resumed_s / full_s:.2f} (target <= 0.3); "
        f"forwards / distinct contents = {dup_embedded / (args.images - duplicates):.2f} (target 1.00); "
        f"classifier re-run / first = {second_s / first_s:.2f} (target <= 0.1)"
    )
