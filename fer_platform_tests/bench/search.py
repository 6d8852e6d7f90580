"""Search benchmark: HNSW vs exact top-10 (latency, recall) at two table sizes, the HTTP endpoint under
32 concurrent clients, and the emotion head's accuracy on the synthetic data set.

    python -m fer_platform_tests.bench search [--rows 28709 287090] [--queries 200] [--clients 32] [--seconds 30]
        [--m 16 --ef-construction 64]   (--clients 0 / --per-class 0 skip the endpoint / the head)

Vectors: no real FER2013 embeddings can be made here (no ImageNet weights, no data set), so rows are
drawn from a generator shaped like CNN features: non-negative (post-ReLU), 7 emotion directions, and
within each emotion many small "identity" clusters (one per 15 rows), plus per-row noise. Queries are
stored vectors with fresh noise, i.e. new photos of known faces.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from fer_platform.embeddings.embedder import embed_files
from fer_platform.embeddings.model import load_model
from fer_platform.models.head import evaluate, fit_head
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import FER2013_EMOTIONS, write_sample_dataset
from fer_platform.search.index import HNSW_EF_CONSTRUCTION, HNSW_M, BuildSettings, maintain_index
from fer_platform.search.query import nearest
from fer_platform.table.rows import PartitionDelta, write_delta
from fer_platform.table.schema import ensure_table
from fer_platform_tests.support.servers.databases import create_database
from fer_platform_tests.support.servers.deployment import free_port, start, stop, wait_for_port

TABLE = "imagenes_fer"
ROWS_PER_IDENTITY = 15


def feature_like_vectors(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Non-negative vectors: emotion direction + identity cluster + noise, then ReLU."""
    emotions = [FER2013_EMOTIONS[i % 7] for i in range(rows)]
    emotion_dirs = rng.gamma(1.0, 1.0, size=(7, 512)).astype(np.float32)
    identities = rng.normal(0, 1.0, size=(rows // ROWS_PER_IDENTITY + 1, 512)).astype(np.float32)
    index = np.array([FER2013_EMOTIONS.index(e) for e in emotions])
    vectors = emotion_dirs[index] + identities[np.arange(rows) // ROWS_PER_IDENTITY]
    vectors += rng.normal(0, 0.6, size=(rows, 512)).astype(np.float32)
    return np.maximum(vectors, 0), emotions


def load_table(dsn: str, vectors: np.ndarray, emotions: list[str], model_id: str | None = None) -> None:
    """The rows, recorded as made by ``model_id`` (by default the random-weight query model's, so that the
    service, which embeds queries with it, accepts them)."""
    model_id = model_id or load_model("random", "cpu").model_id
    with psycopg.connect(dsn) as conn:
        ensure_table(conn, TABLE)
        register_vector(conn)
        for emotion in FER2013_EMOTIONS:
            rows = [i for i, e in enumerate(emotions) if e == emotion]
            paths = [f"train/{emotion}/im{i}.png" for i in rows]
            delta = PartitionDelta(emotion, model_id, paths, ["0" * 64] * len(rows), vectors[rows], [])
            write_delta(conn, TABLE, delta)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def timed_queries(conn, queries, exact: bool, ef: int) -> tuple[list[float], list[list[int]]]:
    latencies, ids = [], []
    for vector in queries:
        start = time.perf_counter()
        found = nearest(conn, TABLE, vector, 10, exact=exact, ef_search=ef)
        latencies.append((time.perf_counter() - start) * 1000)
        ids.append([n.id for n in found])
    return latencies, ids


def search_figures(server_uri: str, rows: int, queries: int, m: int, ef_construction: int) -> str:
    """Rows of the latency/recall table for one table size; returns the DSN of the loaded table."""
    dsn = create_database(server_uri, f"bench_{rows}")
    rng = np.random.default_rng(rows)
    vectors, emotions = feature_like_vectors(rows, rng)
    load_table(dsn, vectors, emotions)
    with psycopg.connect(dsn, autocommit=True) as conn:
        register_vector(conn)
        conn.execute(f"VACUUM ANALYZE {TABLE}")  # noqa: S608 - constant
        picks = rng.choice(rows, size=queries, replace=False)
        probe = [np.maximum(vectors[i] + rng.normal(0, 0.3, 512).astype(np.float32), 0) for i in picks]
        exact_n = min(queries, 50) if rows > 100_000 else queries
        exact_ms, exact_ids = timed_queries(conn, probe[:exact_n], exact=True, ef=0)
        report = maintain_index(conn, TABLE, settings=BuildSettings(m=m, ef_construction=ef_construction))
        print(
            f"| {rows:,} | exact (seq scan) | - | {percentile(exact_ms, 50):.1f} | {percentile(exact_ms, 99):.1f} | 1.000 |"
            f" HNSW build {report.seconds:.1f} s |"
        )
        for ef in (40, 100, 200, 400, 800):
            ms, ids = timed_queries(conn, probe, exact=False, ef=ef)
            recall = statistics.mean(len(set(a) & set(b)) / 10 for a, b in zip(ids[:exact_n], exact_ids, strict=True))
            print(
                f"| {rows:,} | HNSW m={m} ef_construction={ef_construction} | {ef} | {percentile(ms, 50):.1f} | "
                f"{percentile(ms, 99):.1f} | {recall:.3f} | {statistics.median(exact_ms) / statistics.median(ms):.0f}x faster |"
            )
    return dsn


async def load_test(url: str, key: str, image: bytes, clients: int, seconds: float) -> tuple[int, int, list[float]]:
    """(ok, errors, latencies ms) of ``clients`` loops posting /search for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            start = time.perf_counter()
            response = await http.post(
                f"{url}/search?k=5",
                files={"file": ("q.png", image, "image/png")},
                headers={"Authorization": f"Bearer {key}"},
            )
            if response.status_code == 200:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return len(latencies), errors, latencies


def endpoint_figures(dsn: str, work: Path, clients: int, seconds: float) -> None:
    write_sample_dataset(work / "query", per_class=1, test_per_class=0, emotions=("happy",))
    image = (work / "query" / "train" / "happy" / "im0.png").read_bytes()
    port, key = free_port(), "bench-key"
    env = os.environ | {
        "FER_REPLICA_DSN": dsn,
        "FER_API_KEY": key,
        "FER_WEIGHTS": "random",
        "FER_HOME": str(work / "home"),
    }
    server = start(
        [str(Path(sys.executable).parent / "fer-platform"), "serve", "--port", str(port)], env, work / "serve.log"
    )
    try:
        wait_for_port(port, server, timeout=120)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load_test(url, key, image, 2, 3))  # warm-up: model load, pool
        ok, errors, ms = asyncio.run(load_test(url, key, image, clients, seconds))
    finally:
        stop(server)
    print(
        f"| {clients} | {seconds:.0f} | {ok} | {ok / seconds:.1f} | {percentile(ms, 50):.0f} | "
        f"{percentile(ms, 99):.0f} | {errors} |"
    )


def classifier_figures(work: Path, per_class: int) -> None:
    root = work / "classifier"
    write_sample_dataset(root, per_class=per_class, test_per_class=per_class // 4)
    model = load_model("random", "cpu")
    sets = {}
    for split in ("train", "test"):
        paths = sorted((root / split).rglob("*.png"))
        result = embed_files(model, paths, 64, 0)
        sets[split] = (result.vectors, [paths[i].parent.name for i in result.indices])
    head = fit_head(*sets["train"], model.model_id)
    evaluation = evaluate(head, *sets["test"])
    print(
        f"| synthetic, 7 emotions, {len(sets['train'][1])} train / {evaluation.samples} test, random-weight ResNet18 |"
        f" {evaluation.accuracy:.1%} | {min(evaluation.recall.values()):.1%} | 14.3% |"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench search")
    parser.add_argument("--rows", type=int, nargs="*", default=[28_709, 287_090])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--per-class", type=int, default=100, help="synthetic images per emotion for the head")
    parser.add_argument("--m", type=int, default=HNSW_M, help="HNSW m (the platform's default)")
    parser.add_argument("--ef-construction", type=int, default=HNSW_EF_CONSTRUCTION)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fer-bench-search-") as tmp:
        work = Path(tmp)
        server_uri = embedded_server(work / "pg").get_uri()
        print("| rows | method | ef_search | p50 ms | p99 ms | recall@10 | |")
        print("|---:|---|---:|---:|---:|---:|---|")
        dsns = [search_figures(server_uri, rows, args.queries, args.m, args.ef_construction) for rows in args.rows]
        if args.clients:
            print("\n| clients | seconds | requests ok | requests/s | p50 ms | p99 ms | errors |")
            print("|---:|---:|---:|---:|---:|---:|---:|")
            endpoint_figures(dsns[0], work, args.clients, args.seconds)
        if args.per_class:
            print("\n| data | test accuracy | lowest per-emotion recall | chance |")
            print("|---|---:|---:|---:|")
            classifier_figures(work, args.per_class)
