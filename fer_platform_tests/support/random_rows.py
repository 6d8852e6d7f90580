"""Rows of random vectors in imagenes_fer, for index and recall tests."""

import numpy as np
import psycopg
from pgvector import Vector

EMOTIONS = ("angry", "happy", "sad")


def insert(conn: psycopg.Connection, start: int, count: int, rng: np.random.Generator) -> None:
    rows = [
        (f"train/{EMOTIONS[i % 3]}/im{i}.png", EMOTIONS[i % 3], Vector(rng.random(512, dtype=np.float32)))
        for i in range(start, start + count)
    ]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO imagenes_fer (filepath, emotion, vector) VALUES (%s, %s, %s)", rows)
