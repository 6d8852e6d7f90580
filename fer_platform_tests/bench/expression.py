"""Expression freshness benchmark: seconds from an image landing in the image root to it being found by
``space=expression`` (its row of the served emotion_model version in ``imagenes_fer_expression``, which the HNSW
index holds from its commit), with the daemon running and nothing done by hand.

    python -m fer_platform_tests.bench expression [--samples 10] [--interval 5] [--settle 1]

The platform: embedded PostgreSQL (source, replica, Dagster storage), a local lake, the code location,
webserver and daemon as ``docker compose`` runs them (``deployment.running_platform``), an emotion_model trained
and promoted in the same Dagster instance first. Each sample is a new synthetic face copied into
``train/happy/``: ``new_images_sensor`` starts ``fer_pipeline`` for happy, then ``search_index_automation`` starts
``expression_vectors[happy]`` once ``azure_replica[happy]`` and its blocking checks passed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from dagster import DagsterInstance

from fer_platform.definitions import build_definitions
from fer_platform.orchestration.names import EMOTION_MODEL_JOB
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings
from fer_platform.table.expression import EXPRESSION_TABLE
from fer_platform_tests.support.populated import environment
from fer_platform_tests.support.servers.databases import create_database, dagster_storage_url
from fer_platform_tests.support.servers.deployment import instance_home, loopback_ports, running_platform

EMOTIONS = ("happy", "sad")
PER_CLASS = 30


def found(dsn: str, filepaths: list[str]) -> bool:
    """Every one of ``filepaths`` has its expression vector (of whichever version is served: there is one)."""
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass(%s)", (EXPRESSION_TABLE,)).fetchone()[0] is None:
            return False
        rows = conn.execute(
            f"SELECT count(*) FROM {EXPRESSION_TABLE} WHERE filepath = ANY(%s)", (filepaths,)  # noqa: S608
        ).fetchone()[0]
    return rows == len(filepaths)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not after {timeout:.0f} s")
        time.sleep(0.25)


def platform_env(work: Path, interval_s: int, settle_s: float) -> dict[str, str]:
    server = embedded_server(work / "pg").get_uri()
    dbs = {name: create_database(server, name) for name in ("source", "replica", "dagster")}
    return {
        "DAGSTER_HOME": str(instance_home(work / "dagster_home")),
        "DAGSTER_PG_URL": dagster_storage_url(dbs["dagster"]),
        "FER_HOME": str(work / "home"),
        "FER_IMAGE_ROOT": str(work / "images"),
        "FER_PG_DSN": dbs["source"],
        "FER_REPLICA_DSN": dbs["replica"],
        "FER_WEIGHTS": "random",
        "FER_DEVICE": "cpu",
        "FER_TRAIN_MAX_EPOCHS": "5",
        "FER_SENSOR_INTERVAL_S": str(interval_s),
        "FER_SETTLE_S": str(settle_s),
        "FER_RAY_ADDRESS": "",
        "FER_EVENTS_QUEUE": "",
    } | loopback_ports()


def expression_latency(work: Path, samples: int, interval_s: int, settle_s: float) -> list[float]:
    write_sample_dataset(work / "images", per_class=PER_CLASS, test_per_class=4, emotions=EMOTIONS)
    write_sample_dataset(work / "new", per_class=PER_CLASS + samples, test_per_class=0, emotions=("happy",))
    env = platform_env(work, interval_s, settle_s)
    with environment(env), DagsterInstance.get() as instance:  # the daemon's instance: it sees the model
        job = build_definitions(load_settings()).resolve_job_def(EMOTION_MODEL_JOB)
        assert job.execute_in_process(instance=instance).success, "train_emotion_model failed"
    latencies = []
    with running_platform(os.environ | env, work / "logs"):
        first = [f"train/{e}/im{i}.png" for e in EMOTIONS for i in range(PER_CLASS)]
        wait_until(lambda: found(env["FER_REPLICA_DSN"], first), 900, "the first images' expression vectors")
        for i in range(PER_CLASS, PER_CLASS + samples):
            name = f"train/happy/im{i}.png"
            started = time.monotonic()
            shutil.copy(work / "new" / name, work / "images" / name)
            wait_until(lambda n=name: found(env["FER_REPLICA_DSN"], [n]), 600, f"{name}'s expression vector")
            latencies.append(time.monotonic() - started)
            print(f"  sample {len(latencies)}: {latencies[-1]:.1f} s", flush=True)
    return latencies


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench expression")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--interval", type=int, default=5, help="FER_SENSOR_INTERVAL_S (both sensors)")
    parser.add_argument("--settle", type=float, default=1.0, help="FER_SETTLE_S")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fer-bench-expression-") as tmp:
        latencies = expression_latency(Path(tmp), args.samples, args.interval, args.settle)
    print(
        f"landing -> found by space=expression, {len(latencies)} samples, FER_SENSOR_INTERVAL_S={args.interval}, "
        f"FER_SETTLE_S={args.settle}: median {statistics.median(latencies):.1f} s, "
        f"min {min(latencies):.1f} s, max {max(latencies):.1f} s"
    )
