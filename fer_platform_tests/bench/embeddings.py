"""Embedding benchmark: the asset's code path vs the bare model, the seed recipe, and the writes.

Everything runs side by side in one process on the same synthetic images and
the same embedded PostgreSQL + pgvector, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import psycopg2
import torch
from pgvector.psycopg import register_vector
from PIL import Image

from fer_platform.embeddings.embedder import forward
from fer_platform.embeddings.model import SEED_TRANSFORM, load_model
from fer_platform.embeddings.partition import embed_partition
from fer_platform.embeddings.vector_store import PgVectorStore
from fer_platform.images.folders import discover_emotions
from fer_platform.images.manifest import MANIFEST_TABLE
from fer_platform.images.scan import scan_emotion
from fer_platform.images.stored_manifest import ensure_manifest_table, store_read
from fer_platform.orchestration.resources import EmbedderResource, ImagesResource
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import write_sample_dataset
from fer_platform.table.planned import Comparison, write_planned
from fer_platform.table.rows import PartitionDelta, write_delta
from fer_platform.table.schema import ensure_table


def partition_code_path(images: ImagesResource, embedder: EmbedderResource, dsn: str, emotion: str, store) -> int:
    """One partition as the asset runs it: manifest stored -> plan staged -> store -> embed -> write from the
    store; images embedded."""
    scope, model_id = images.scope(emotion), store.model_id
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_table(conn)
        ensure_manifest_table(conn)
        with conn.transaction():
            store_read(conn, scope, scan_emotion(images.root, images.split, emotion))
        comparison = Comparison(MANIFEST_TABLE, "imagenes_fer", emotion, scope, model_id)
        run = embed_partition(dsn, f"bench/{emotion}", comparison, embedder.batch_embedder(), images.root, store)
        register_vector(conn)
        with conn.transaction():
            write_planned(conn, "imagenes_fer", run.delta)
    return run.embedded


def asset_code_path(images: ImagesResource, embedder: EmbedderResource, dsn: str) -> tuple[int, float]:
    """Every partition through ``partition_code_path``; (images embedded, seconds). The vector store is part of
    the path: the table's rows take their vectors from it (issue 33), so there is no run without it to compare."""
    start, embedded = time.perf_counter(), 0
    store = PgVectorStore(dsn, embedder.model().model_id)
    store.prepare()
    for emotion in discover_emotions(images.root, images.split):
        embedded += partition_code_path(images, embedder, dsn, emotion, store)
    return embedded, time.perf_counter() - start


def bare_forward(paths: list[Path], embedder: EmbedderResource) -> float:
    """Seconds of the model alone on pre-transformed tensors, in the same batches as the asset (the ceiling).

    The asset embeds one emotion folder per run, so its batches are cut per folder; so are these.
    """
    model = embedder.model()
    by_folder: dict[Path, list[Path]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, []).append(path)
    folders = [torch.stack([SEED_TRANSFORM(Image.open(p)) for p in group]) for group in by_folder.values()]
    start = time.perf_counter()
    for tensors in folders:
        for i in range(0, len(tensors), embedder.batch_size):
            forward(model, tensors[i : i + embedder.batch_size])
    return time.perf_counter() - start


def seed_recipe(paths: list[Path], root: Path, weights: str, dsn: str) -> float:
    """Seconds of the seed script: one image at a time, one INSERT per row, one commit at the end."""
    model = load_model(weights, "cpu").module
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    start = time.perf_counter()
    for path in paths:
        with torch.no_grad():
            embedding = model(SEED_TRANSFORM(Image.open(path)).unsqueeze(0)).squeeze().numpy()
        cur.execute(
            "INSERT INTO seed_fer (filepath, emotion, vector) VALUES (%s, %s, %s)",
            (str(path.relative_to(root)), path.parent.name, embedding.tolist()),
        )
    conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def write_rates(dsn: str, copy_rows: int, insert_rows: int) -> tuple[float, float]:
    """rows/s of the IO manager's write (COPY BINARY) vs the seed's row-by-row INSERT."""
    vectors = np.random.default_rng(0).normal(size=(copy_rows, 512)).astype(np.float32)
    paths = [f"bench/w/{i}.png" for i in range(copy_rows)]
    delta = PartitionDelta("w", "bench", paths, ["0" * 64] * copy_rows, vectors, [])
    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        start = time.perf_counter()
        write_delta(conn, "imagenes_fer", delta)
        copy_s = time.perf_counter() - start
    conn2 = psycopg2.connect(dsn)
    cur = conn2.cursor()
    start = time.perf_counter()
    for i in range(insert_rows):
        cur.execute(
            "INSERT INTO seed_fer (filepath, emotion, vector) VALUES (%s, %s, %s)",
            (f"row/{i}.png", "w", vectors[i].tolist()),
        )
    conn2.commit()
    insert_s = time.perf_counter() - start
    conn2.close()
    return copy_rows / copy_s, insert_rows / insert_s


def add_new_files(root: Path, fraction: float) -> int:
    """Add ``fraction`` new images (mirrored copies: new bytes, so the vector store cannot answer for them)."""
    files = sorted((root / "train").rglob("*.png"))
    chosen = files[:: max(1, round(1 / fraction))]
    for path in chosen:
        Image.open(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path.with_name(f"new_{path.name}"))
    return len(chosen)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench embeddings")
    parser.add_argument("--images", type=int, default=350, help="train images (spread over 7 emotions)")
    parser.add_argument("--seed-images", type=int, default=80, help="images for the slow seed recipe")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--weights", default="random", help="same compute for any weights; no download here")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="fer_bench_"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    root = work / "images"
    write_sample_dataset(root, per_class=args.images // 7, test_per_class=0)
    images = ImagesResource(image_root=str(root), source_url=str(root), split="train", settle_s=0)
    embedder = EmbedderResource(
        weights=args.weights,
        device="cpu",
        batch_size=args.batch_size,
        num_workers=args.workers,
        precision=args.precision,
    )
    server = embedded_server(work / "pgdata")
    dsn = server.get_uri()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(
            "CREATE TABLE seed_fer (id bigserial PRIMARY KEY, filepath varchar(255) NOT NULL, "
            "emotion varchar(50) NOT NULL, vector vector(512))"
        )
    paths = sorted((root / "train").rglob("*.png"))
    n = len(paths)
    bare_forward(paths[: args.batch_size], embedder)  # warm-up: weights built, kernels chosen

    bare_s = bare_forward(paths, embedder)
    embedded, full_s = asset_code_path(images, embedder, dsn)
    seed_s = seed_recipe(paths[: args.seed_images], root, args.weights, dsn)
    copy_rate, insert_rate = write_rates(dsn, copy_rows=20_000, insert_rows=2_000)
    unchanged_count, unchanged_s = asset_code_path(images, embedder, dsn)
    added = add_new_files(root, 0.01)
    new_count, incr_s = asset_code_path(images, embedder, dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE imagenes_fer")
    resumed_count, resumed_s = asset_code_path(images, embedder, dsn)  # every vector stored: a resume at 100 %

    e2e, bare, seed = embedded / full_s, n / bare_s, args.seed_images / seed_s
    print(
        f"images={n} batch={args.batch_size} workers={args.workers} threads={torch.get_num_threads()} "
        f"weights={args.weights} precision={args.precision}"
    )
    print("| measure | value |\n|---|---|")
    print(f"| (1) asset code path, embed + load | {e2e:.1f} img/s ({embedded} in {full_s:.1f} s) |")
    print(f"| (2) bare model forward, same batches (<= {args.batch_size}) | {bare:.1f} img/s |")
    print(f"| (3) seed recipe, 1 image at a time + INSERT per row | {seed:.1f} img/s ({args.seed_images} images) |")
    print(f"| (4) IO manager write, COPY BINARY | {copy_rate:,.0f} rows/s |")
    print(f"| (4) row-by-row INSERT (seed, psycopg2) | {insert_rate:,.0f} rows/s |")
    print(f"| re-run, nothing changed | {unchanged_s:.2f} s ({unchanged_count} embedded) |")
    print(f"| re-run, {added} new files (1%) | {incr_s:.2f} s ({new_count} embedded) |")
    print(f"| table emptied, every vector in the store (a resume) | {resumed_s:.2f} s ({resumed_count} embedded) |")
    print(
        f"\nratios: (1)/(2) = {e2e / bare:.2f} (target >= 0.9); (1)/(3) = {e2e / seed:.1f}x (target >= 5); "
        f"(4) COPY/INSERT = {copy_rate / insert_rate:.1f}x (target >= 10); "
        f"1% new / full = {incr_s / full_s:.1%} (target < 5%); resume from store / full = "
        f"{resumed_s / full_s:.1%}"
    )
