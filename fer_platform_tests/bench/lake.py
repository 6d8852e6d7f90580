"""Lakehouse benchmark against Azurite on loopback: image upload/copy and the Parquet export.

Side by side in one run: the concurrent incremental upload (``source_images_blob``'s code)
of all images vs a sequential one-blob-at-a-time upload of a sample, each into its own fresh
Azurite (Azurite slows down as it holds more blobs), then the lake copy and the Parquet export.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from azure.storage.blob import BlobServiceClient

from fer_platform.lake.transfer import sync_prefix
from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import FER2013_EMOTIONS, write_sample_dataset
from fer_platform.storage.location import Location, open_location
from fer_platform.table.rows import read_partition
from fer_platform_tests.bench.replica import fill_source
from fer_platform_tests.support.servers.azurite import start_azurite

REPO = Path(__file__).resolve().parents[2]


def sequential_upload(conn_str: str, root: Path, files: list[Path]) -> float:
    """One blob at a time, as a naive script (or the seed's portal upload) would: seconds."""
    container = BlobServiceClient.from_connection_string(conn_str).get_container_client("seq")
    container.create_container()
    start = time.perf_counter()
    for path in files:
        container.upload_blob(path.relative_to(root).as_posix(), path.read_bytes(), overwrite=True)
    return time.perf_counter() - start


def sync_all(src: Location, dst: Location, dst_root: str, concurrency: int) -> tuple[int, float]:
    """Every emotion through ``sync_prefix`` (the assets' code): (files sent, seconds)."""
    start, sent = time.perf_counter(), 0
    for emotion in FER2013_EMOTIONS:
        scope = f"train/{emotion}/"
        report = sync_prefix(src=src, src_prefix=scope, dst=dst, dst_prefix=dst_root + scope, concurrency=concurrency)
        sent += len(report.sent)
    return sent, time.perf_counter() - start


def parquet_export(work: Path, rows: int, lake: Location) -> tuple[float, float]:
    """(seconds to read all partitions into polars, seconds including zstd Parquet writes to the lake)."""
    dsn = embedded_server(work / "pg").get_uri()
    fill_source(dsn, rows)
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        frames = {e: read_partition(conn, "imagenes_fer", e) for e in FER2013_EMOTIONS}
        read_s = time.perf_counter() - start
    for emotion, frame in frames.items():
        with lake.fs.open(lake.path(f"raw/embeddings/fer2013/emotion={emotion}/part-0.parquet"), "wb") as f:
            frame.write_parquet(f, compression="zstd")
    return read_s, time.perf_counter() - start


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench lake")
    parser.add_argument("--images", type=int, default=28_709)
    parser.add_argument("--sequential-sample", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--in-memory", action="store_true", help="Azurite --inMemoryPersistence")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fer_bench_lake_"))
    procs: list[subprocess.Popen] = []
    try:
        run(args, work, procs)
    finally:
        for proc in procs:
            proc.terminate()
        shutil.rmtree(work, ignore_errors=True)


def row(label: str, value: str) -> None:
    """One result line, printed as soon as it is measured (the whole run can take many minutes)."""
    print(f"| {label} | {value} |", flush=True)


def run(args: argparse.Namespace, work: Path, procs: list[subprocess.Popen]) -> None:
    root = work / "images"
    write_sample_dataset(root, per_class=args.images // 7 + 1, test_per_class=0)
    files = sorted((root / "train").rglob("*.png"))[: args.images]
    for extra in sorted((root / "train").rglob("*.png"))[args.images :]:
        extra.unlink()
    size = sum(p.stat().st_size for p in files) / len(files)
    seq_proc, seq_conn = start_azurite(None if args.in_memory else work / "az_seq")
    main_proc, main_conn = start_azurite(None if args.in_memory else work / "az_main")
    procs += [seq_proc, main_proc]
    print(
        f"images={len(files)} (~{size:,.0f} bytes each), Azurite 3.35.0 "
        f"{'in memory' if args.in_memory else 'on disk'}, concurrency={args.concurrency}"
    )
    print("| measure | value |\n|---|---|", flush=True)
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = main_conn
    lake = open_location("az://lake/fer")
    lake.ensure()
    read_s, export_s = parquet_export(work, args.images, lake)
    row(f"Parquet export of {args.images} rows: replica -> polars", f"{read_s:.2f} s")
    row("Parquet export incl. zstd writes to the lake (Azurite)", f"{export_s:.2f} s")
    sample = files[:: max(1, len(files) // args.sequential_sample)][: args.sequential_sample]
    seq_s = sequential_upload(seq_conn, root, sample)
    seq_rate = len(sample) / seq_s
    row(f"sequential upload, one blob at a time ({len(sample)} files, fresh Azurite)", f"{seq_rate:,.1f} files/s")
    source = open_location("az://origen-imagenes-fer")
    sent, up_s = sync_all(open_location(str(root)), source, "", args.concurrency)
    row(
        f"source_images_blob code: concurrent upload of {sent} files (fresh Azurite)",
        f"{sent / up_s:,.1f} files/s ({up_s:.1f} s)",
    )
    print(f"ratio: concurrent / sequential upload = {sent / up_s / seq_rate:.1f}x (target >= 10x)", flush=True)
    _, again_s = sync_all(open_location(str(root)), source, "", args.concurrency)
    row("re-run of the upload, nothing changed", f"{again_s:.1f} s")
    copied, copy_s = sync_all(source, lake, "raw/images/fer2013/", args.concurrency)
    row(
        f"lakehouse_images code: server-side copy of {copied} files into the lake",
        f"{copied / copy_s:,.1f} files/s ({copy_s:.1f} s)",
    )
    print("seed ADF for reference: 55 s images, 27 s embeddings", flush=True)
