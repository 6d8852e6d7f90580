"""recall@k of the HNSW index against exact search, at a cost that does not grow with the table's reads.

Exact search over the whole table costs a scan per query (10M rows x 2 KiB: 20 GB each), so the check measures
on a bounded random subset instead: ``SUBSET_ROWS`` rows drawn by random ids (an index probe each, no scan; ids
are a bigserial, so gaps only make draws miss), ``QUERIES`` query vectors drawn the same way. For each query the
reference is the exact top-k within the subset (a read of the subset: O(SUBSET_ROWS)); the index answers the
same query restricted to the subset (``id = ANY(subset)``, its iterative scan walking the graph until k subset
rows were found: about k * N / SUBSET_ROWS tuples per query, k * N / (SUBSET_ROWS * share) within an emotion
holding ``share`` of the rows; ``hnsw.max_scan_tuples`` is raised so that the walk is not cut short). The exact
side stays flat as the table grows; the index side grows with N / SUBSET_ROWS, and the subset grows with the
table past ``SUBSET_ROWS * 1000`` rows to keep it at most ~1,000 tuples per found row.
"""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from fer_platform.search.query import (
    EXACT,
    HALFVEC_DISTANCE,
    candidates,
    filtered_ef_search,
    planner_settings,
    run,
    top_k,
)

SUBSET_ROWS = 20_000
QUERIES = 100
MAX_SCAN_TUPLES = 1_000_000


def random_rows(conn: psycopg.Connection, table: str, count: int, seed: int) -> list[tuple[int, str, np.ndarray]]:
    """About ``count`` distinct stored rows (id, emotion, vector) drawn by random ids: primary-key probes, no
    scan. Fewer when the table holds fewer."""
    ident = sql.Identifier(table)
    low, high = conn.execute(sql.SQL("SELECT min(id), max(id) FROM {}").format(ident)).fetchone()
    if low is None:
        return []
    draws = np.random.default_rng(seed).integers(low, high + 1, size=min(count, high - low + 1) * 2)
    rows = conn.execute(
        sql.SQL("SELECT id, emotion, vector FROM {} WHERE id = ANY(%s) ORDER BY id").format(ident),
        (sorted(set(draws.tolist())),),
    ).fetchall()
    picked = np.random.default_rng(seed + 1).permutation(len(rows))[:count]
    return [(int(rows[i][0]), rows[i][1], rows[i][2].to_numpy()) for i in sorted(picked)]


def subset_size(rows: int) -> int:
    """Rows of the reference subset for a table of ``rows``."""
    return max(SUBSET_ROWS, rows // 1000)


def recall_at_k(
    conn: psycopg.Connection, table: str, rows: int, k: int, ef_search: int, filtered: bool, seed: int = 42
) -> tuple[float, int, int]:
    """(mean share of the exact top-k within the subset that the index finds, queries, subset rows); per
    query's emotion when ``filtered``."""
    subset = [row_id for row_id, _, _ in random_rows(conn, table, subset_size(rows), seed)]
    queries = random_rows(conn, table, QUERIES, seed + 2)
    walk = {"hnsw.max_scan_tuples": str(MAX_SCAN_TUPLES)}
    hits, measured = 0.0, 0
    for _, emotion, vector in queries:
        target = emotion if filtered else None
        exact = run(conn, top_k(table, vector, k, target, None, EXACT, subset), planner_settings(True, None, k))
        if not exact:
            continue
        ef = filtered_ef_search(conn, table, emotion, ef_search) if filtered else ef_search  # as ``nearest``
        settings = planner_settings(False, ef, candidates(k)) | walk
        approx = run(conn, top_k(table, vector, candidates(k), target, None, HALFVEC_DISTANCE, subset), settings)
        reranked = sorted(approx, key=lambda row: row[3])[:k]  # as ``nearest`` answers
        hits += len({r[0] for r in exact} & {r[0] for r in reranked}) / len(exact)
        measured += 1
    return (hits / measured if measured else 1.0), measured, len(subset)
