"""Replica rows -> a polars frame with an Arrow ``FixedSizeList<float32, 512>`` vector column.

One aggregate query returns the partition as three arrays and a single bytea
of all vectors (``vector_send`` minus its 4-byte header, big-endian float32),
which numpy reinterprets in place: no per-row Python work.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from fer_platform.embeddings.model import EMBEDDING_DIM

PARTITION_ARRAYS = """
SELECT coalesce(array_agg(id ORDER BY id), '{{}}'),
       coalesce(array_agg(filepath::text ORDER BY id), '{{}}'),
       coalesce(string_agg(substring(vector_send(vector) FROM 5), ''::bytea ORDER BY id), ''::bytea)
FROM {table} WHERE emotion = %s
"""


def read_partition(conn: psycopg.Connection, table: str, emotion: str) -> pl.DataFrame:
    """``id, emotion, filepath, vector`` of one emotion, ordered by id."""
    ids, paths, blob = conn.execute(
        sql.SQL(PARTITION_ARRAYS).format(table=sql.Identifier(table)), (emotion,)
    ).fetchone()
    vectors = np.frombuffer(blob, dtype=">f4").astype(np.float32).reshape(len(ids), EMBEDDING_DIM)
    return pl.DataFrame(
        {
            "id": pl.Series(ids, dtype=pl.Int64),
            "emotion": pl.Series([emotion] * len(ids), dtype=pl.String),
            "filepath": pl.Series(paths, dtype=pl.String),
            "vector": pl.Series(vectors, dtype=pl.Array(pl.Float32, EMBEDDING_DIM)),
        }
    )
