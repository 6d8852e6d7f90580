"""HNSW index maintenance and top-k queries against a real PostgreSQL + pgvector."""

import numpy as np
import psycopg
import pytest
from pgvector import Vector
from pgvector.psycopg import register_vector

from fer_platform.search.index import maintain_index
from fer_platform.search.query import nearest, recall_at_k, sample_vectors
from fer_platform.table.schema import ensure_table
from fer_platform_tests.support.random_rows import insert


@pytest.fixture
def table(pg_dsn: str) -> psycopg.Connection:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        ensure_table(conn, "imagenes_fer")
        register_vector(conn)
        insert(conn, 0, 300, np.random.default_rng(0))
        yield conn


def test_index_results_equal_exact_search_on_a_small_table(table):
    assert maintain_index(table, "imagenes_fer").action == "created"
    table.execute("SET enable_seqscan = off")  # 300 rows: the planner would rightly scan; make it use the index
    plan = table.execute(
        "EXPLAIN SELECT id FROM imagenes_fer ORDER BY vector <=> %s LIMIT 5", (Vector(np.ones(512, np.float32)),)
    ).fetchall()
    assert "imagenes_fer_vector_hnsw" in " ".join(row[0] for row in plan)
    found = expected = 0
    for emotion, vector in sample_vectors(table, "imagenes_fer", 20):
        approximate = nearest(table, "imagenes_fer", vector, 10)
        exact = nearest(table, "imagenes_fer", vector, 10, exact=True)
        assert approximate[0] == exact[0]  # the stored vector itself, at distance 0
        within = nearest(table, "imagenes_fer", vector, 10, emotion=emotion)
        assert len(within) == 10 and {n.emotion for n in within} == {emotion}
        found += len({n.id for n in approximate} & {n.id for n in exact})
        expected += len(exact)
    # An approximate index may swap a near-tie now and then: compare sets over the sample, not exact lists.
    assert found / expected >= 0.95
    queries = sample_vectors(table, "imagenes_fer", 30)
    assert recall_at_k(table, "imagenes_fer", queries, 10, 100, filtered=True) == 1.0


def test_index_is_kept_until_a_fifth_of_the_rows_changed(table):
    assert maintain_index(table, "imagenes_fer").action == "created"
    insert(table, 300, 30, np.random.default_rng(1))
    kept = maintain_index(table, "imagenes_fer")
    assert (kept.action, kept.changed_since_build) == ("kept", 30)
    insert(table, 330, 50, np.random.default_rng(2))
    assert maintain_index(table, "imagenes_fer").action == "rebuilt"
    table.execute("DELETE FROM imagenes_fer WHERE id % 4 = 0")  # 95 of 380 rows
    assert maintain_index(table, "imagenes_fer").action == "rebuilt"
    assert maintain_index(table, "imagenes_fer").action == "kept"


def test_k_out_of_range_is_refused(table):
    with pytest.raises(ValueError, match="k=0"):
        nearest(table, "imagenes_fer", np.ones(512, np.float32), 0)
