"""Top-k queries: HNSW (approximate, tuned by ``hnsw.ef_search``) or exact, optionally within one emotion.

Every answer is complete: ``min(k, matching rows)`` rows, whatever ``hnsw.ef_search`` is. Approximate queries
run with pgvector's iterative index scans (``hnsw.iterative_scan = strict_order``, ``ef_search`` at least k), so
a filter that rejects most candidates, or a k above ef_search, still gets k rows. Within an emotion, ``ef_search``
is divided by the square root of the emotion's share of the rows (``filtered_ef_search``), so the scan's first
pass holds more of the emotion's rows (dividing by the share itself, pgvector's advice, doubles the latency for a
few points of recall at 1M rows); when the scan stops short
(``hnsw.max_scan_tuples`` reached inside a rare emotion), the query is answered exactly within the filter, which
is then small. The plan is pinned to the HNSW index (sequential scans and sorts off), so an emotion filter never
turns into a btree scan plus a sort of the whole emotion; ``explain`` shows it, and the tests assert it.

The seed table's index holds half-precision copies of its vectors (``search.index``): ``candidates(k)`` rows
come in the order of the ``halfvec`` distance and are re-ranked by the exact float32 distance. Planner settings are
local to the query's own transaction and put back after it, and queries are never auto-prepared (a prepared
plan would ignore them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql

from fer_platform.table.aggregates import stored
from fer_platform.table.schema import EMBEDDING_DIM

MAX_K = 100  # the most neighbours a request may ask for
MAX_LIMIT = MAX_K + 1  # one more, when the stored image searched from is left out of its own results
DEFAULT_EF_SEARCH = 40  # pgvector's
MAX_EF_SEARCH = 1000  # pgvector's upper bound of hnsw.ef_search
RERANK_EXTRA = 20
EXACT = sql.SQL("vector <=> %(q)s")
SET_LOCAL = "SELECT set_config(name, value, true) FROM unnest(%s::text[], %s::text[]) AS s(name, value)"
RESET_LOCAL = "SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name = ANY(%s)"
# What the seed table's HNSW index is built on (``search.index``), and the distance that uses it.
HALFVEC = f"(vector::halfvec({EMBEDDING_DIM}))"
HALFVEC_DISTANCE = sql.SQL(f"{HALFVEC} <=> (%(q)s::halfvec({EMBEDDING_DIM}))")


@dataclass(frozen=True)
class Neighbor:
    """One stored image close to the query; ``distance`` is the cosine distance (0 = same direction)."""

    id: int
    filepath: str
    emotion: str
    distance: float


def planner_settings(exact: bool, ef_search: int | None, k: int) -> dict[str, str]:
    """Planner settings of one query; ``ef_search=None`` is pgvector's default, raised to k."""
    if exact:
        return {"enable_indexscan": "off"}
    # Approximate means the index: on a small table the planner would rightly scan, and "HNSW" results (and
    # the recall check measuring them) would be exact search by construction; with sorts off, a filter cannot
    # become a btree scan of the emotion plus a sort.
    return {
        "enable_seqscan": "off",
        "enable_sort": "off",
        "hnsw.ef_search": str(max(ef_search or DEFAULT_EF_SEARCH, k)),
        "hnsw.iterative_scan": "strict_order",
    }


def top_k(
    table: str,
    vector: np.ndarray,
    k: int,
    emotion: str | None,
    model_version: str | None,
    order: sql.Composable,
    ids: list[int] | None = None,
) -> tuple[sql.Composed, dict]:
    """A top-k statement and its parameters: rows ordered by ``order``, each with its exact distance (``ids``:
    only those rows, what the recall check's subset is)."""
    conditions = [sql.SQL("emotion = %(emotion)s")] if emotion is not None else []
    if model_version is not None:
        conditions.append(sql.SQL("model_version = %(version)s"))
    if ids is not None:
        conditions.append(sql.SQL("id = ANY(%(ids)s)"))
    where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    statement = sql.SQL("SELECT id, filepath, emotion, {} AS distance FROM {} {} ORDER BY {} LIMIT %(k)s").format(
        EXACT, sql.Identifier(table), where, order
    )
    q = Vector(np.asarray(vector, dtype=np.float32))
    return statement, {"q": q, "k": k, "emotion": emotion, "version": model_version, "ids": ids}


def run(
    conn: psycopg.Connection, query: tuple[sql.Composed, dict], settings: dict[str, str], explain: bool = False
) -> list:
    """The rows of ``query`` (or its plan) under ``settings``, which hold for this query only: set local to a
    transaction (a savepoint inside the caller's) and put back to the session's values after it, so that a
    later statement of the caller's transaction is planned as usual."""
    statement, params = query
    names, values = list(settings), list(settings.values())
    with conn.transaction():
        conn.execute(SET_LOCAL, (names, values))
        rows = conn.execute(sql.SQL("EXPLAIN ") + statement if explain else statement, params, prepare=False)
        rows = rows.fetchall()
        conn.execute(RESET_LOCAL, (names,))
    return rows


def nearest(
    conn: psycopg.Connection,
    table: str,
    vector: np.ndarray,
    k: int = 5,
    emotion: str | None = None,
    ef_search: int | None = None,
    exact: bool = False,
    model_version: str | None = None,
    halfvec: bool = True,
    scale_filtered: bool = True,
) -> list[Neighbor]:
    """The ``k`` stored rows nearest to ``vector`` by cosine distance (``model_version``: only rows of that
    emotion_model version, in the expression table; ``halfvec``: the table's index is the seed table's
    half-precision one; False for the expression table; ``scale_filtered=False``: ``ef_search`` as given within
    an emotion too, what ``bench scale`` compares with)."""
    if not 1 <= k <= MAX_LIMIT:
        raise ValueError(f"k={k} must be between 1 and {MAX_LIMIT}")
    compact = halfvec and not exact
    wanted = candidates(k) if compact else k
    if emotion is not None and not exact and scale_filtered:
        ef_search = filtered_ef_search(conn, table, emotion, ef_search)
    query = top_k(table, vector, wanted, emotion, model_version, HALFVEC_DISTANCE if compact else EXACT)
    rows = run(conn, query, planner_settings(exact, ef_search, wanted))
    if len(rows) < wanted and not exact:  # the iterative scan stopped short: few rows match, answer them exactly
        rows = run(conn, top_k(table, vector, k, emotion, model_version, EXACT), planner_settings(True, None, k))
    found = [Neighbor(int(i), path, emo, float(d)) for i, path, emo, d in rows]
    return sorted(found, key=lambda n: n.distance)[:k]  # re-ranked by the exact float32 distance


def filtered_ef_search(conn: psycopg.Connection, table: str, emotion: str, ef_search: int | None) -> int | None:
    """``ef_search`` for a query within ``emotion``: divided by the square root of the emotion's share of the rows,
    read from the maintained figures (``table.aggregates``: one small read, no count), at most ``MAX_EF_SEARCH``.
    With the unfiltered value a pass holds ~ef x share rows of the emotion: at 1M rows within ``fear`` (14 %)
    recall@10 was 0.879; divided by the share (ef 700) 0.985, by its square root (ef 265) 0.958 at half that
    latency (BENCHMARKS.md "Search at scale"). Unchanged on a table without figures (the expression table) or an
    emotion it does not hold."""
    figures = {name: aggregate.rows for name, aggregate in stored(conn, table).items()}
    matching, total = figures.get(emotion, 0), sum(figures.values())
    if matching <= 0 or total <= 0:
        return ef_search
    return min(MAX_EF_SEARCH, math.ceil((ef_search or DEFAULT_EF_SEARCH) * math.sqrt(total / matching)))


def candidates(k: int) -> int:
    """How many rows a half-precision search takes to re-rank for the top k: half precision orders rows whose
    distances differ by less than ~1e-3 arbitrarily (near-duplicate faces), so the true k-th may rank a little
    lower; ``RERANK_EXTRA`` more rows (at least) keep it in."""
    return k + max(k, RERANK_EXTRA)


def explain(conn: psycopg.Connection, table: str, k: int, emotion: str | None, ef_search: int | None) -> str:
    """The plan of an approximate query on the seed table (what the tests and the recall check look at)."""
    query = top_k(table, np.ones(EMBEDDING_DIM, np.float32), k, emotion, None, HALFVEC_DISTANCE)
    return "\n".join(row[0] for row in run(conn, query, planner_settings(False, ef_search, k), explain=True))


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
