"""Top-k queries: HNSW (approximate, tuned by ``hnsw.ef_search``) or exact, optionally within one emotion.

Filtering by emotion uses pgvector's iterative index scans (``hnsw.iterative_scan``),
so a filter that rejects most candidates still returns k rows instead of fewer.
Planner settings are ``SET LOCAL`` in the query's own transaction, and queries are
never auto-prepared (a prepared plan would ignore them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql

MAX_K = 100  # the most neighbours a request may ask for
MAX_LIMIT = MAX_K + 1  # one more, when the stored image searched from is left out of its own results


@dataclass(frozen=True)
class Neighbor:
    """One stored image close to the query; ``distance`` is the cosine distance (0 = same direction)."""

    id: int
    filepath: str
    emotion: str
    distance: float


def planner_settings(exact: bool, ef_search: int | None, filtered: bool) -> list[sql.Composed]:
    """``SET LOCAL`` statements for one query; ``ef_search=None`` keeps the server's ``hnsw.ef_search``."""
    if exact:
        return [sql.SQL("SET LOCAL enable_indexscan = off")]
    # Approximate means the index: on a small table the planner would rightly scan, and "HNSW" results (and
    # the recall check measuring them) would be exact search by construction.
    settings = [sql.SQL("SET LOCAL enable_seqscan = off")]
    if ef_search is not None:
        settings.append(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(int(ef_search))))
    if filtered:
        settings.append(sql.SQL("SET LOCAL hnsw.iterative_scan = strict_order"))
    return settings


def nearest(
    conn: psycopg.Connection,
    table: str,
    vector: np.ndarray,
    k: int = 5,
    emotion: str | None = None,
    ef_search: int | None = None,
    exact: bool = False,
    model_version: str | None = None,
) -> list[Neighbor]:
    """The ``k`` stored rows nearest to ``vector`` by cosine distance (``model_version``: only rows of that
    emotion_model version, in the expression table)."""
    if not 1 <= k <= MAX_LIMIT:
        raise ValueError(f"k={k} must be between 1 and {MAX_LIMIT}")
    conditions = [sql.SQL("emotion = %(emotion)s")] if emotion is not None else []
    if model_version is not None:
        conditions.append(sql.SQL("model_version = %(version)s"))
    where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL(
        "SELECT id, filepath, emotion, vector <=> %(q)s AS distance FROM {} {} ORDER BY vector <=> %(q)s LIMIT %(k)s"
    ).format(sql.Identifier(table), where)
    params = {"q": Vector(np.asarray(vector, dtype=np.float32)), "k": k, "emotion": emotion, "version": model_version}
    with conn.transaction():
        for setting in planner_settings(exact, ef_search, bool(conditions)):
            conn.execute(setting)
        rows = conn.execute(query, params, prepare=False).fetchall()
    return [Neighbor(int(i), path, emo, float(d)) for i, path, emo, d in rows]


def sample_vectors(
    conn: psycopg.Connection, table: str, count: int, seed: float = 0.42
) -> list[tuple[str, np.ndarray]]:
    """A reproducible random sample of stored (emotion, vector) pairs, for recall measurements."""
    with conn.transaction():
        conn.execute("SELECT setseed(%s)", (seed,))
        rows = conn.execute(
            sql.SQL("SELECT emotion, vector FROM {} ORDER BY random() LIMIT %s").format(sql.Identifier(table)),
            (count,),
        ).fetchall()
    return [(emotion, vec.to_numpy()) for emotion, vec in rows]


def recall_at_k(
    conn: psycopg.Connection, table: str, queries: list[tuple[str, np.ndarray]], k: int, ef_search: int, filtered: bool
) -> float:
    """Mean share of the exact top-k ids that the index returns (per emotion when ``filtered``)."""
    if not queries:
        return 1.0
    hits = 0
    for emotion, vector in queries:
        target = emotion if filtered else None
        exact = {n.id for n in nearest(conn, table, vector, k, target, exact=True)}
        approx = {n.id for n in nearest(conn, table, vector, k, target, ef_search=ef_search)}
        hits += len(exact & approx) / max(1, len(exact))
    return hits / len(queries)


@dataclass(frozen=True)
class StoredImage:
    """A stored row to search from ("more like this")."""

    id: int
    filepath: str
    emotion: str
    vector: np.ndarray


def stored_image(conn: psycopg.Connection, table: str, row_id: int) -> StoredImage | None:
    """The row ``row_id`` of ``table`` with its vector, None when there is none."""
    row = conn.execute(
        sql.SQL("SELECT id, filepath, emotion, vector FROM {} WHERE id = %s").format(sql.Identifier(table)), (row_id,)
    ).fetchone()
    if row is None or row[3] is None:
        return None
    return StoredImage(int(row[0]), row[1], row[2], row[3].to_numpy())


def ids_of(conn: psycopg.Connection, table: str, filepaths: list[str]) -> dict[str, int]:
    """``filepath -> id`` in ``table`` of those of ``filepaths`` it holds (one query)."""
    rows = conn.execute(
        sql.SQL("SELECT filepath, id FROM {} WHERE filepath = ANY(%s)").format(sql.Identifier(table)), (filepaths,)
    ).fetchall()
    return {path: int(i) for path, i in rows}
