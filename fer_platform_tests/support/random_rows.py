"""Rows of random vectors in imagenes_fer, for index and recall tests."""

import numpy as np
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector

from fer_platform.table.schema import ensure_table

EMOTIONS = ("angry", "happy", "sad")


def insert(conn: psycopg.Connection, start: int, count: int, rng: np.random.Generator) -> None:
    rows = [
        (f"train/{EMOTIONS[i % 3]}/im{i}.png", EMOTIONS[i % 3], Vector(rng.random(512, dtype=np.float32)))
        for i in range(start, start + count)
    ]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO imagenes_fer (filepath, emotion, vector) VALUES (%s, %s, %s)", rows)


def connect_table(dsn: str) -> psycopg.Connection:
    """An autocommit connection to a database whose imagenes_fer exists (triggers included)."""
    conn = psycopg.connect(dsn, autocommit=True)
    ensure_table(conn, "imagenes_fer")
    register_vector(conn)
    return conn


def insert_partition(conn: psycopg.Connection, emotion: str, names: range) -> None:
    """Rows ``train/<emotion>/<i>.png`` for i in ``names``, random vectors seeded by the range's start."""
    rng = np.random.default_rng(names.start)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO imagenes_fer (filepath, emotion, vector) VALUES (%s, %s, %s)",
            [(f"train/{emotion}/{i}.png", emotion, rng.random(512, dtype=np.float32)) for i in names],
        )
