"""HNSW index maintenance and top-k queries against a real PostgreSQL + pgvector."""

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from fer_platform.search import index
from fer_platform.search.index import maintain_index
from fer_platform.search.query import MAX_EF_SEARCH, explain, filtered_ef_search, nearest
from fer_platform.search.recall import random_rows, recall_at_k
from fer_platform.table.aggregates import churn, model_counts
from fer_platform.table.schema import ensure_table
from fer_platform_tests.support.random_rows import insert, insert_partition


@pytest.fixture
def table(pg_dsn: str) -> psycopg.Connection:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        ensure_table(conn, "imagenes_fer")
        register_vector(conn)
        insert(conn, 0, 300, np.random.default_rng(0))
        yield conn


def test_index_results_equal_exact_search_on_a_small_table(table):
    assert maintain_index(table, "imagenes_fer").action == "created"
    assert "imagenes_fer_halfvec_hnsw" in explain(table, "imagenes_fer", 5, None, 40)
    found = expected = 0
    for _, emotion, vector in random_rows(table, "imagenes_fer", 20, seed=0):
        approximate = nearest(table, "imagenes_fer", vector, 10)
        exact = nearest(table, "imagenes_fer", vector, 10, exact=True)
        assert approximate[0] == exact[0]  # the stored vector itself, at distance 0
        within = nearest(table, "imagenes_fer", vector, 10, emotion=emotion)
        assert len(within) == 10 and {n.emotion for n in within} == {emotion}
        found += len({n.id for n in approximate} & {n.id for n in exact})
        expected += len(exact)
    # An approximate index may swap a near-tie now and then: compare sets over the sample, not exact lists.
    assert found / expected >= 0.95
    assert recall_at_k(table, "imagenes_fer", 300, 10, 100, filtered=True)[0] >= 0.99  # halfvec: a near tie may swap


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


def test_a_filtered_query_is_planned_on_the_index_not_a_btree_and_a_sort(table):
    """With a btree on emotion and a rare emotion, the planner would take the btree and sort the emotion; the
    query's plan stays on the HNSW index (with its iterative scan), and its answer is complete."""
    table.execute("CREATE INDEX imagenes_fer_by_emotion ON imagenes_fer (emotion)")
    insert_partition(table, "disgust", range(3))
    table.execute("ANALYZE imagenes_fer")
    maintain_index(table, "imagenes_fer")
    plan = explain(table, "imagenes_fer", 10, "disgust", 40)
    assert "imagenes_fer_halfvec_hnsw" in plan and "Sort" not in plan and "by_emotion" not in plan, plan
    found = nearest(table, "imagenes_fer", np.ones(512, np.float32), 10, emotion="disgust")
    assert sorted(n.filepath for n in found) == [f"train/disgust/{i}.png" for i in range(3)]  # min(k, 3)


@pytest.mark.parametrize("k", [5, 60, 101])
def test_every_answer_holds_min_k_matching_rows_whatever_ef_search(table, k):
    maintain_index(table, "imagenes_fer")
    vector = np.random.default_rng(3).random(512, dtype=np.float32)
    for ef_search in (1, 10, 40):
        assert len(nearest(table, "imagenes_fer", vector, k, ef_search=ef_search)) == k
        within = nearest(table, "imagenes_fer", vector, k, emotion="happy", ef_search=ef_search)
        assert len(within) == min(k, 100) and {n.emotion for n in within} == {"happy"}  # happy holds 100
        distances = [n.distance for n in within]
        assert distances == sorted(distances)


def test_a_filtered_query_widens_ef_search_by_its_emotion_s_share_without_a_count(table):
    insert_partition(table, "disgust", range(3))  # 3 of 303 rows
    table.execute("SELECT pg_stat_reset()")
    assert filtered_ef_search(table, "imagenes_fer", "happy", 40) == 70  # 40 x sqrt(303 / 100), rounded up
    assert filtered_ef_search(table, "imagenes_fer", "happy", None) == 70  # pgvector's default, 40
    assert filtered_ef_search(table, "imagenes_fer", "disgust", 40) == 402  # 40 x sqrt(101)
    assert filtered_ef_search(table, "imagenes_fer", "disgust", 100) == MAX_EF_SEARCH  # 1,005: capped
    assert filtered_ef_search(table, "imagenes_fer", "contempt", 40) == 40  # no rows: as given
    table.execute("DELETE FROM imagenes_fer WHERE emotion = 'angry'")
    assert filtered_ef_search(table, "imagenes_fer", "happy", 40) == 57  # the figures follow the rows
    table.execute("SELECT pg_stat_reset()")
    filtered_ef_search(table, "imagenes_fer", "happy", 40)
    scanned = table.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'imagenes_fer'").fetchone()[0]
    assert scanned == 0


def test_the_catalogue_and_the_churn_follow_writes_deletes_and_model_changes_without_a_count(table):
    assert model_counts(table, "imagenes_fer") == {None: 300}
    before = churn(table, "imagenes_fer")
    table.execute("UPDATE imagenes_fer SET model_id = 'resnet18-a' WHERE id % 3 = 0")
    table.execute("DELETE FROM imagenes_fer WHERE id % 5 = 0")
    expected = dict(table.execute("SELECT model_id, count(*) FROM imagenes_fer GROUP BY 1").fetchall())
    assert model_counts(table, "imagenes_fer") == expected
    assert churn(table, "imagenes_fer") == before + 2 * 100 + 60
    table.execute("TRUNCATE imagenes_fer")
    assert model_counts(table, "imagenes_fer") == {}
    table.execute("SELECT pg_stat_reset()")
    model_counts(table, "imagenes_fer")
    scanned = table.execute(
        "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'imagenes_fer'"
    ).fetchone()[0]
    assert scanned == 0  # the catalogue never reads the table


def test_a_build_logs_its_progress(table, monkeypatch):
    monkeypatch.setattr(index, "PROGRESS_EVERY_S", 0.02)
    insert(table, 300, 3000, np.random.default_rng(4))
    lines: list[str] = []
    settings = index.BuildSettings(memory="64MB", workers=1)
    assert maintain_index(table, "imagenes_fer", settings=settings, log=lines.append).action == "created"
    assert lines and all(line.startswith("index build: ") for line in lines), lines
    assert any("building index" in line for line in lines), lines


def test_k_out_of_range_is_refused(table):
    with pytest.raises(ValueError, match="k=0"):
        nearest(table, "imagenes_fer", np.ones(512, np.float32), 0)
