"""Driver memory benchmark (issue 33): the peak RSS of the process that drives a scan or an embedding run, above
what it held when it started, as the work grows. Target: at most 1 GB above the start for a 1M-entry manifest
and for 100k vectors, flat as N grows.

Each size runs in a fresh subprocess, so peaks never mix, and the peak counts from the start of the work
(``started_mb`` resets the high-water mark after imports and setup); all sizes side by side in one run:

- manifest: the driver's side of a first scan of a folder of N files and of the rescan after 1% of them changed,
  against the real stored manifest on PostgreSQL: the listing goes into the scan's temporary table
  (``listing.load_listing``), the server compares it (``gone``, ``scan.described_pages``), and each block read
  is stored by the real ``stored_manifest.store_read`` in a transaction of its own, as ``raw_images`` does. The
  listing and the described columns are synthesized (no N files on disk), a block at a time as ``stat`` would
  give them: the batches are the numpy columns ``reading.describe_batch`` returns from a Ray task, 64 files
  each, as the driver receives them; each page of paths leaves for the tasks as one Arrow column, as
  ``describe_on_ray`` ships it.
- vectors: one partition of N images through ``embed_partition`` (its plan staged on the server, the contents
  to compute asked for a page at a time) with the real PostgreSQL vector store, then the real IO manager's write
  (``PgVectorIOManager.handle_output``, from the store by the server) into ``imagenes_fer``. The model is replaced
  by ``PrecomputedEmbedder`` (below) so that the figure is the driver's, not the model's.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import polars as pl
import psutil
import pyarrow as pa

from fer_platform.embeddings.embedder import EmbeddingResult
from fer_platform.table.schema import EMBEDDING_DIM

MANIFEST_SIZES = "10000,100000,1000000"
VECTOR_SIZES = "10000,100000"
TASK_BATCH = 64  # files per Ray task of the scan (``images.on_ray.SCAN_BATCH``)
MTIME = 1_700_000_000_000_000_000
PREFIX = "train/happy/im"
SCOPE = "train/happy/"
CHILD = "from fer_platform_tests.bench.driver_memory import child; child()"


def started_mb() -> float:
    """This process's resident memory now, made its peak: Linux resets the high-water mark to the current RSS
    (``/proc/self/clear_refs``), so imports and setup before the work do not count."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    """This process's peak resident memory since ``started_mb``: the kernel's high-water mark (``VmHWM``).
    Not ``ru_maxrss``: it also keeps the parent's RSS at the fork that started this process."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def fingerprints(i: np.ndarray, changed_every: int) -> dict[str, np.ndarray]:
    """Size, mtime and inode of the synthetic files ``i`` (every ``changed_every``-th one with a newer mtime)."""
    bump = (i % changed_every == 0).astype(np.int64) if changed_every else 0
    return {"size_bytes": 1200 + i % 500, "mtime_ns": MTIME + i + bump, "inode": 10_000 + i}


def synthetic_listing(n: int, changed_every: int = 0, start: int = 0) -> pl.DataFrame:
    """What ``listing.listed_blocks`` lists for the files ``start .. start + n`` of a synthetic folder."""
    i = np.arange(start, start + n, dtype=np.int64)
    paths = pl.select(pl.format(PREFIX + "{}.png", pl.lit(pl.Series(i))).alias("filepath"))
    return paths.with_columns(**{name: pl.Series(values) for name, values in fingerprints(i, changed_every).items()})


def listed(n: int, changed_every: int) -> Iterator[pl.DataFrame]:
    """A synthetic folder of ``n`` files listed a block at a time, as ``listed_blocks`` hands it on."""
    from fer_platform.images.manifest import BLOCK_ROWS

    for start in range(0, n, BLOCK_ROWS):
        yield synthetic_listing(min(BLOCK_ROWS, n - start), changed_every, start)


def task_batches(shipped: pa.Table, changed_every: int) -> Iterator[dict[str, np.ndarray]]:
    """What Ray's scan tasks hand the driver for the paths ``shipped``: ``describe_batch``'s numpy columns,
    ``TASK_BATCH`` files each (one file in 100 undecodable)."""
    for start in range(0, len(shipped), TASK_BATCH):
        paths = shipped["filepath"].slice(start, TASK_BATCH).to_numpy(zero_copy_only=False)
        i = np.array([int(path[len(PREFIX) : -4]) for path in paths], dtype=np.int64)
        bad = i % 100 == 0
        yield {
            "filepath": paths,
            "emotion": np.full(len(paths), "happy", dtype=object),
            "sha256": np.array([f"{hash(path) & (2**64 - 1):064x}" for path in paths], dtype=object),
            "width": np.where(bad, 0, 48).astype(np.int32),
            "height": np.where(bad, 0, 48).astype(np.int32),
            "error": np.where(bad, "cannot identify image file", "").astype(object),
            **fingerprints(i, changed_every),
        }


def by_tasks(changed_every: int) -> Callable[[pl.Series], Iterator[pl.DataFrame]]:
    """A ``manifest.Describe`` as ``describe_on_ray`` is on the driver: the paths shipped as an Arrow table, the
    tasks' batches handed on in blocks by the real ``described_blocks``."""
    from fer_platform.images.manifest import described_blocks

    return lambda paths: described_blocks(task_batches(pa.table({"filepath": paths.to_arrow()}), changed_every))


def scanned(conn: Any, n: int, changed_every: int) -> tuple[int, float]:
    """(rows, MB) read and stored by a scan of the synthetic folder (``changed_every``: its 1-in-k files changed
    since the last scan), each block stored in a transaction of its own and dropped, as ``raw_images`` does."""
    from fer_platform.images.listing import gone, load_listing
    from fer_platform.images.scan import FolderMark, described_pages
    from fer_platform.images.stored_manifest import store_end, store_read

    load_listing(conn, listed(n, changed_every))
    removed, rows, size = gone(conn, SCOPE), 0, 0.0
    for block in described_pages(conn, by_tasks(changed_every)):
        with conn.transaction():
            store_read(conn, SCOPE, block)
        rows, size = rows + len(block), size + block.estimated_size() / 2**20
    with conn.transaction():
        store_end(conn, SCOPE, removed, FolderMark(1, 1, 1))
    assert not removed
    return rows, size


def manifest_child(n: int, dsn: str) -> dict:
    """A first scan of ``n`` files, then the rescan after 1% changed, against the stored manifest."""
    from fer_platform.images.stored_manifest import ensure_manifest_table
    from fer_platform.postgres.connection import connect

    with connect(dsn, vector=False) as conn:
        ensure_manifest_table(conn)
        conn.commit()
        start, began = started_mb(), time.perf_counter()
        rows, data_mb = scanned(conn, n, 0)
        assert rows == n  # a first scan reads every file
        first_s = time.perf_counter() - began
        assert scanned(conn, n, 100)[0] == -(-n // 100)
    return {"start_mb": start, "peak_mb": peak_mb(), "seconds": time.perf_counter() - began, "data_mb": data_mb,
            "first_scan_s": first_s}


@dataclass(frozen=True)
class PrecomputedEmbedder:
    """BENCHMARK ONLY, never part of the product: an ``Embedder`` that yields random vectors (a precomputed pool
    of them, cycled) in batches instead of running the model, to isolate the driver's memory (the store, the
    chunks, the delta, the write) from the model's (weights, activations, decoded images)."""

    batch_size: int = 256
    engine: str = "in_process"
    model_id: str = "bench-precomputed-random"
    pool = np.random.default_rng(0).standard_normal((4096, EMBEDDING_DIM), dtype=np.float32)

    def stream(self, paths: Sequence[Path]) -> Iterator[EmbeddingResult]:
        for start in range(0, len(paths), self.batch_size):
            indices = list(range(start, min(start + self.batch_size, len(paths))))
            offset = start % len(self.pool)
            yield EmbeddingResult(indices=indices, vectors=self.pool[offset : offset + len(indices)].copy())


def synthetic_manifest(n: int) -> pl.DataFrame:
    """The ``raw_images`` manifest of a folder of ``n`` decodable files, each of its own bytes."""
    from fer_platform.images.manifest import MANIFEST_SCHEMA

    return synthetic_listing(n).with_columns(
        pl.lit("happy").alias("emotion"),
        pl.int_range(n).cast(pl.String).str.zfill(64).alias("sha256"),
        pl.lit(48, pl.Int32).alias("width"),
        pl.lit(48, pl.Int32).alias("height"),
        pl.lit(None, pl.String).alias("error"),
    ).select(MANIFEST_SCHEMA.keys())


def vectors_child(n: int, dsn: str) -> dict:
    """One partition of ``n`` images embedded through the real vector store and written by the real IO manager,
    from a manifest of ``n`` files stored on the server (as ``raw_images`` leaves it; stored before the start)."""
    from dagster import AssetKey, build_output_context

    from fer_platform.defs.embeddings.io_managers import PgVectorIOManager
    from fer_platform.embeddings.partition import embed_partition
    from fer_platform.embeddings.vector_store import PgVectorStore
    from fer_platform.images.manifest import MANIFEST_SCHEMA, MANIFEST_TABLE
    from fer_platform.images.stored_manifest import ensure_manifest_table
    from fer_platform.orchestration.resources import PostgresResource
    from fer_platform.postgres.connection import connect
    from fer_platform.table.planned import Comparison
    from fer_platform.table.rows import partition_row_count
    from fer_platform.table.schema import DEFAULT_TABLE, ensure_table

    embedder = PrecomputedEmbedder()
    store = PgVectorStore(dsn, embedder.model_id)
    store.prepare()
    io_manager = PgVectorIOManager(postgres=PostgresResource(dsn=dsn, embedded_pgdata=""), table=DEFAULT_TABLE)
    with connect(dsn, vector=False) as conn:
        ensure_table(conn, DEFAULT_TABLE)
        ensure_manifest_table(conn)
        with conn.cursor() as cur, cur.copy(f"COPY {MANIFEST_TABLE} ({', '.join(MANIFEST_SCHEMA)}) "
                                            "FROM STDIN (FORMAT csv)") as copy:
            copy.write(synthetic_manifest(n).write_csv(include_header=False))
        conn.commit()
    start, began = started_mb(), time.perf_counter()
    comparison = Comparison(MANIFEST_TABLE, DEFAULT_TABLE, "happy", SCOPE, embedder.model_id)
    run = embed_partition(dsn, "bench", comparison, embedder, Path("/nonexistent"), store)
    embedded_s = time.perf_counter() - began
    io_manager.handle_output(build_output_context(asset_key=AssetKey("embeddings_table")), run.delta)
    with connect(dsn) as conn:
        assert run.embedded == n and partition_row_count(conn, DEFAULT_TABLE, "happy") == n
    return {"start_mb": start, "peak_mb": peak_mb(), "seconds": time.perf_counter() - began,
            "embed_s": embedded_s, "data_mb": n * EMBEDDING_DIM * 4 / 2**20}


def child() -> None:
    """Entry point of a measured subprocess: ``kind n [dsn]`` on argv, one JSON line out."""
    kind, n = sys.argv[1], int(sys.argv[2])
    result = (manifest_child if kind == "manifest" else vectors_child)(n, sys.argv[3])
    print(json.dumps(result))


def measured(kind: str, n: int, *extra: str) -> dict:
    """One size in a fresh process."""
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(n), *extra], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{kind} {n} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result | {"above_mb": result["peak_mb"] - result["start_mb"]}


def report(title: str, data: str, results: dict[int, dict]) -> None:
    """One markdown table: peak above start per N, against the data's own size and the smallest N."""
    sizes = sorted(results)
    base = results[sizes[0]]["above_mb"]
    print(f"\n{title}\n\n| N | peak above start | {data} | peak / it | seconds | growth vs N={sizes[0]:,} |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        r = results[n]
        print(
            f"| {n:,} | {r['above_mb']:.0f} MB | {r['data_mb']:.0f} MB | {r['above_mb'] / r['data_mb']:.2f} | "
            f"{r['seconds']:.1f} | {r['above_mb'] / base:.1f}x for {n / sizes[0]:.0f}x N |"
        )


def main(argv: list[str]) -> None:
    from fer_platform.postgres.embedded import embedded_server
    from fer_platform_tests.bench.store import fresh_database

    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench driver_memory")
    parser.add_argument("--manifest-sizes", default=MANIFEST_SIZES, help="manifest entries, comma-separated")
    parser.add_argument("--vector-sizes", default=VECTOR_SIZES, help="vectors of one partition, comma-separated")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fer_bench_memory_"))
    try:
        uri = embedded_server(work / "pgdata").get_uri()
        sizes = map(int, args.manifest_sizes.split(","))
        manifests = {n: measured("manifest", n, fresh_database(uri, f"manifest_{n}")) for n in sizes}
        sizes = map(int, args.vector_sizes.split(","))
        vectors = {n: measured("vectors", n, fresh_database(uri, f"memory_{n}")) for n in sizes}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("driver peak RSS above its start (fresh process per N; target <= 1024 MB, flat as N grows)")
    report("manifest: first scan + 1% rescan, compared on the server, stored by block", "rows read", manifests)
    report("vectors: one partition through the vector store + the IO manager's write", "its vectors", vectors)
