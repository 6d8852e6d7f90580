"""API benchmark: ``GET /similar/{id}`` against ``POST /search`` at 28,709 rows, and what ``/metrics``
instrumentation costs ``/search``, each pair measured side by side in one run (alternating rounds).

    python -m fer_platform_tests.bench api [--rows 28709] [--clients 4] [--seconds 5] [--rounds 3]

Rows: the search benchmark's feature-like vectors (``bench.search``), HNSW built. Two servers are started on
the same table: the service as ``create_app`` builds it, and the same app with the ``RequestMetrics`` layer
taken out (nothing else differs), so the ratio is the instrumentation's cost alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg

from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import write_sample_dataset
from fer_platform.search.index import maintain_index
from fer_platform_tests.bench.search import TABLE, feature_like_vectors, load_table, percentile
from fer_platform_tests.support.servers.databases import create_database
from fer_platform_tests.support.servers.deployment import free_port, start, stop, wait_for_port

KEY = "bench-key"
SERVER = """
import sys, uvicorn
from fer_platform.service.app import create_app
from fer_platform.service.metrics import RequestMetrics
app = create_app()
if sys.argv[2] == "bare":
    app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestMetrics]
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


async def load(url: str, request, clients: int, seconds: float) -> list[float]:
    """Latencies (ms) of ``clients`` loops sending ``request(http)`` for ``seconds``; a failure stops the run."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await request(http)
            if response.status_code != 200:
                raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:200]}")
            latencies.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return latencies


def requests(image: bytes, ids: list[int]) -> dict:
    rng = random.Random(0)
    return {
        "POST /search": lambda http: http.post("/search?k=10", files={"file": ("q.png", image, "image/png")}),
        "GET /similar/{id}": lambda http: http.get(f"/similar/{rng.choice(ids)}?k=10"),
    }


def side_by_side(runs: dict, clients: int, seconds: float, rounds: int) -> dict[str, list[float]]:
    """Each (url, request) of ``runs`` in turn, ``rounds`` times: drift in the machine's load hits them alike."""
    found: dict[str, list[float]] = {name: [] for name in runs}
    for name, (url, request) in runs.items():  # warm-up: models, pool, index pages
        asyncio.run(load(url, request, 2, 1))
    for _ in range(rounds):
        for name, (url, request) in runs.items():
            found[name] += asyncio.run(load(url, request, clients, seconds))
    return found


def table(found: dict[str, list[float]], seconds: float, rounds: int) -> None:
    base = percentile(next(iter(found.values())), 50)
    print("| | requests | requests/s | p50 ms | p99 ms | p50 vs first row |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, ms in found.items():
        rate = len(ms) / (seconds * rounds)
        print(
            f"| {name} | {len(ms)} | {rate:.1f} | {percentile(ms, 50):.1f} | {percentile(ms, 99):.1f} | "
            f"{percentile(ms, 50) / base:.2f} |"
        )


def start_servers(env: dict, work: Path) -> tuple[list, dict[str, str]]:
    """The instrumented and the bare server on the same table; (processes, url per variant)."""
    servers, urls = [], {}
    for variant in ("instrumented", "bare"):
        port = free_port()
        command = [sys.executable, "-c", SERVER, str(port), variant]
        servers.append(start(command, os.environ | env, work / f"{variant}.log"))
        wait_for_port(port, servers[-1], timeout=120)
        urls[variant] = f"http://127.0.0.1:{port}"
    return servers, urls


def loaded_table(work: Path, rows: int) -> tuple[str, list[int]]:
    """A database holding ``rows`` feature-like vectors under HNSW; (DSN, row ids)."""
    dsn = create_database(embedded_server(work / "pg").get_uri(), "bench_api")
    vectors, emotions = feature_like_vectors(rows, np.random.default_rng(rows))
    load_table(dsn, vectors, emotions)
    with psycopg.connect(dsn, autocommit=True) as conn:
        maintain_index(conn, TABLE)
        ids = [i for (i,) in conn.execute(f"SELECT id FROM {TABLE}")]  # noqa: S608 - constant
    return dsn, ids


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench api")
    parser.add_argument("--rows", type=int, default=28_709)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    timing = {"clients": args.clients, "seconds": args.seconds, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="fer-bench-api-") as tmp:
        work = Path(tmp)
        dsn, ids = loaded_table(work, args.rows)
        write_sample_dataset(work / "query", per_class=1, test_per_class=0, emotions=("happy",))
        image = (work / "query" / "train" / "happy" / "im0.png").read_bytes()
        env = {"FER_REPLICA_DSN": dsn, "FER_API_KEY": KEY, "FER_WEIGHTS": "random", "FER_HOME": str(work / "home")}
        servers, urls = start_servers(env, work)
        try:
            routes = requests(image, ids)
            print(f"\n{args.rows:,} rows, {args.clients} clients, {args.rounds} rounds of {args.seconds:.0f} s:\n")
            pairs = {name: (urls["instrumented"], request) for name, request in routes.items()}
            table(side_by_side(pairs, **timing), args.seconds, args.rounds)
            search = routes["POST /search"]
            pairs = {"POST /search with /metrics": (urls["instrumented"], search), "without": (urls["bare"], search)}
            print()
            table(side_by_side(pairs, **timing), args.seconds, args.rounds)
        finally:
            for server in servers:
                stop(server)
