"""A partition's plan made, kept and applied by a real PostgreSQL: the manifest against the table by path, the
contents to compute a page at a time, the write from the vector store in one transaction."""

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from fer_platform.embeddings.vector_store import STORE_TABLE, PgVectorStore
from fer_platform.images.manifest import MANIFEST_TABLE
from fer_platform.images.stored_manifest import ensure_manifest_table
from fer_platform.table import planned
from fer_platform.table.aggregates import from_rows, stored
from fer_platform.table.planned import (
    Comparison,
    MissingVectorsError,
    PlanCounts,
    PlannedDelta,
    contents_page,
    stage_plan,
    undecodable,
    unplan,
    write_planned,
)
from fer_platform.table.rows import read_partition, stored_fingerprints
from fer_platform.table.schema import ensure_table

TABLE, MODEL = "imagenes_fer", "m1"
WHOLE = Comparison(MANIFEST_TABLE, TABLE, "happy", "train/happy/", MODEL)


@pytest.fixture
def conn(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        ensure_table(c, TABLE)
        ensure_manifest_table(c)
        register_vector(c)
        PgVectorStore(pg_dsn, MODEL).prepare()
        yield c


def in_manifest(conn, *rows: tuple[str, str, str | None]) -> None:
    """Manifest rows (name, sha256, error) of train/happy/."""
    for name, content, error in rows:
        conn.execute(
            f"INSERT INTO {MANIFEST_TABLE} (filepath, emotion, size_bytes, sha256, error, mtime_ns, inode) "
            "VALUES (%s, 'happy', 1, %s, %s, 1, 1)",
            (f"train/happy/{name}", content, error),
        )


def in_table(conn, *rows: tuple[str, str | None, str | None]) -> None:
    """Table rows (name, sha256, model id) of train/happy/, each with a vector of ones."""
    for name, content, model in rows:
        conn.execute(
            f"INSERT INTO {TABLE} (filepath, emotion, vector, content_sha256, model_id) "
            "VALUES (%s, 'happy', %s, %s, %s)",
            (f"train/happy/{name}", np.ones(512, np.float32), content, model),
        )


def digest(name: str) -> str:
    return name.encode().hex().ljust(64, "0")


def staged(conn, plan: str) -> dict[str, str | None]:
    rows = conn.execute(f"SELECT filepath, content_sha256 FROM {planned.PLANNED} WHERE plan = %s", (plan,))
    return {path.removeprefix("train/happy/"): sha for path, sha in rows}


def test_files_are_sorted_by_what_must_happen_and_the_plan_is_staged(conn):
    a, b, c, d, e, new = map(digest, ("a", "b", "c", "d", "e", "new"))
    in_manifest(conn, ("a", a, None), ("b", b, None), ("c", new, None), ("d", d, None), ("e", e, "corrupt"),
                ("seed", a, None))
    in_table(conn, ("a", a, MODEL), ("b", b, "old-model"), ("c", c, MODEL), ("e", e, MODEL), ("gone", a, MODEL),
             ("seed", None, None))
    counts = stage_plan(conn, "run1", WHOLE)
    assert counts == PlanCounts(new=1, changed=2, model_changed=1, unchanged=1, removed=1, undecodable=1)
    assert counts.to_write == 4 and counts.compared == 7
    assert staged(conn, "run1") == {"b": b, "c": new, "d": d, "seed": a, "gone": None}  # e keeps its stored row
    assert undecodable(conn, WHOLE, 10) == {"train/happy/e": "corrupt"}
    logged = Comparison(MANIFEST_TABLE, TABLE, "happy", "train/happy/", MODEL, only=("train/happy/a", "train/happy/c"))
    assert stage_plan(conn, "run2", logged) == PlanCounts(changed=1, unchanged=1)
    assert staged(conn, "run2") == {"c": new} and staged(conn, "run1")  # plans of other runs stay
    assert stage_plan(conn, "run2", logged) == PlanCounts(changed=1, unchanged=1)  # a retried step: staged again
    assert staged(conn, "run2") == {"c": new}


def test_a_plan_is_computed_a_page_at_a_time_and_written_from_the_store_by_the_server(conn, pg_dsn, monkeypatch):
    """Pages of 2 contents, one content under two names computed once, one content the model could not read
    (its old row stays), a file gone: the rows hold the stored vectors and the aggregates stay exact."""
    monkeypatch.setattr(planned, "CONTENTS_PAGE", 2)
    names = ["f0", "f1", "f2", "f3", "twin", "bad"]
    contents = {name: digest(name) for name in names} | {"twin": digest("f0")}
    in_manifest(conn, *((name, contents[name], None) for name in names))
    in_table(conn, ("bad", digest("old"), MODEL), ("gone", digest("gone"), MODEL))
    counts = stage_plan(conn, "run", WHOLE)
    delta = PlannedDelta("run", "happy", MODEL, STORE_TABLE, counts.to_write + counts.removed)
    vectors = {d: np.random.default_rng(k).normal(size=512).astype(np.float32) for k, d in enumerate(contents.values())}
    store, asked, after = PgVectorStore(pg_dsn, MODEL), [], ""
    while page := contents_page(conn, delta, after):
        assert len(page) <= 2
        asked.extend(page)
        after = next(reversed(page))
        good = [d for d in page if d != digest("bad")]
        store.put(good, np.stack([vectors[d] for d in good]))
    assert sorted(asked) == sorted(set(contents.values()))  # f0's bytes once, though two files hold them
    assert unplan(conn, delta, [digest("bad")]) == ["train/happy/bad"]
    with pytest.raises(MissingVectorsError, match="holds 6 rows, not the 7"):
        with conn.transaction():
            write_planned(conn, TABLE, delta)
    with conn.transaction():
        assert write_planned(conn, TABLE, PlannedDelta("run", "happy", MODEL, STORE_TABLE, 6)) == 5
    frame = read_partition(conn, TABLE, "happy")
    by_path = dict(zip(frame["filepath"], frame["vector"].to_numpy()))
    assert sorted(by_path) == [f"train/happy/{name}" for name in sorted(names)]
    for name in ("f0", "f1", "f2", "f3", "twin"):
        assert np.allclose(by_path[f"train/happy/{name}"], vectors[contents[name]])
    assert np.allclose(by_path["train/happy/bad"], 1.0)  # not readable now: the stored row is kept
    assert stored(conn, TABLE) == from_rows(conn, TABLE) and staged(conn, "run") == {}


def test_a_row_whose_vector_left_the_store_fails_the_whole_write(conn, pg_dsn):
    in_manifest(conn, ("a", digest("a"), None), ("b", digest("b"), None))
    in_table(conn, ("keep", digest("keep"), MODEL))
    counts = stage_plan(conn, "run", WHOLE)
    PgVectorStore(pg_dsn, MODEL).put([digest("a")], np.zeros((1, 512), np.float32) + 2)
    before = stored_fingerprints(conn, TABLE, "happy", "")
    with pytest.raises(MissingVectorsError, match=r"1 of the 2 rows.*train/happy/b"):
        with conn.transaction():
            write_planned(conn, TABLE, PlannedDelta("run", "happy", MODEL, STORE_TABLE, counts.to_write + 1))
    assert stored_fingerprints(conn, TABLE, "happy", "").equals(before) and staged(conn, "run")


def test_the_plan_of_logged_paths_sees_only_them_and_a_shared_unreadable_content_leaves_with_every_file(conn):
    in_manifest(conn, ("a", digest("a"), None), ("b", digest("x"), None), ("c", digest("x"), None))
    in_table(conn, ("a", digest("a"), None), ("gone", digest("g"), MODEL), ("other_gone", digest("o"), MODEL))
    logged = Comparison(MANIFEST_TABLE, TABLE, "happy", "train/happy/", MODEL,
                        only=("train/happy/a", "train/happy/b", "train/happy/c", "train/happy/gone"))
    assert stage_plan(conn, "run", logged) == PlanCounts(new=2, model_changed=1, removed=1)  # a: no model recorded
    assert staged(conn, "run") == {"a": digest("a"), "b": digest("x"), "c": digest("x"), "gone": None}
    delta = PlannedDelta("run", "happy", MODEL, STORE_TABLE, 4)
    assert unplan(conn, delta, [digest("x")]) == ["train/happy/b", "train/happy/c"]


def test_a_plan_needs_an_idle_connection(pg_dsn, conn):
    with psycopg.connect(pg_dsn) as busy:
        busy.execute("SELECT 1")  # a transaction is open: its steps would be savepoints, their commits lost
        with pytest.raises(RuntimeError, match="idle connection"):
            stage_plan(busy, "run", WHOLE)
