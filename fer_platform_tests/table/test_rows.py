import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from fer_platform.table import rows
from fer_platform.table.rows import (
    PartitionDelta,
    copy_rows,
    read_partitions,
    stored_fingerprints,
    write_delta,
)
from fer_platform.table.schema import SchemaMismatchError, ensure_table

TABLE = "imagenes_fer"


def delta(paths, removed=(), emotion="happy", seed=0):
    vectors = np.random.default_rng(seed).normal(size=(len(paths), 512)).astype(np.float32)
    return PartitionDelta(emotion, "m1", list(paths), ["a" * 64] * len(paths), vectors, list(removed))


@pytest.fixture
def conn(pg_dsn):
    with psycopg.connect(pg_dsn) as c:
        ensure_table(c, TABLE)
        register_vector(c)
        yield c


def test_creates_extension_table_and_is_rerunnable(conn):
    ensure_table(conn, TABLE)
    cols = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'imagenes_fer'::regclass AND attnum > 0"
        ).fetchall()
    )
    assert cols["vector"] == "vector(512)" and cols["filepath"] == "character varying(255)"
    assert cols["emotion"] == "character varying(50)" and {"content_sha256", "model_id"} <= set(cols)
    storage = "SELECT attstorage FROM pg_attribute WHERE attrelid = 'imagenes_fer'::regclass AND attname = 'vector'"
    assert conn.execute(storage).fetchone()[0] == "p"  # vectors inline, not TOASTed


def test_other_dimension_is_refused_and_left_alone(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION vector")
        c.execute(
            "CREATE TABLE imagenes_fer (id bigserial primary key, filepath text, emotion text, vector vector(256))"
        )
        c.execute("INSERT INTO imagenes_fer (filepath, emotion) VALUES ('x', 'happy')")
        with pytest.raises(SchemaMismatchError, match=r"vector\(256\).*vector\(512\)"):
            ensure_table(c, TABLE)
        assert (
            c.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                "'imagenes_fer'::regclass AND attname = 'vector'"
            ).fetchone()[0]
            == "vector(256)"
        )
        assert c.execute("SELECT count(*) FROM imagenes_fer").fetchone()[0] == 1


def test_seed_table_is_upgraded_in_place(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION vector")
        c.execute(
            "CREATE TABLE imagenes_fer (id bigserial PRIMARY KEY, filepath VARCHAR(255) NOT NULL, "
            "emotion VARCHAR(50) NOT NULL, vector VECTOR(512))"
        )
        c.execute("INSERT INTO imagenes_fer (filepath, emotion) VALUES ('happy/im0.png', 'happy')")
        ensure_table(c, TABLE)
        assert stored_fingerprints(c, TABLE, "happy", "").to_dicts() == [
            {"filepath": "happy/im0.png", "sha256": None, "model_id": None}
        ]


def test_delta_roundtrip_and_replacement(conn):
    write_delta(conn, TABLE, delta(["train/happy/a.png", "train/happy/b.png"]))
    write_delta(conn, TABLE, delta(["train/happy/b.png"], removed=["train/happy/a.png"], seed=1))
    frame = read_partitions(conn, TABLE, ["happy"])
    assert frame["filepath"].to_list() == ["train/happy/b.png"]
    assert np.allclose(frame["vector"].to_numpy()[0], delta(["x"], seed=1).vectors[0])


def test_failure_mid_copy_keeps_previous_rows(conn):
    write_delta(conn, TABLE, delta([f"train/happy/{i}.png" for i in range(5)]))
    before = read_partitions(conn, TABLE, ["happy"])

    class Exploding(PartitionDelta):
        def rows(self):
            rows = super().rows()
            yield next(rows)
            yield next(rows)
            raise RuntimeError("disk on fire")

    bad = Exploding(
        "happy",
        "m2",
        [f"train/happy/{i}.png" for i in range(5)],
        ["b" * 64] * 5,
        np.ones((5, 512), np.float32),
        ["train/happy/0.png"],
    )
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_delta(conn, TABLE, bad)
    after = read_partitions(conn, TABLE, ["happy"])
    assert after["filepath"].to_list() == before["filepath"].to_list()
    assert np.array_equal(after["vector"].to_numpy(), before["vector"].to_numpy())


def test_copy_rejects_bad_row_without_partial_write(conn):
    write_delta(conn, TABLE, delta(["train/happy/keep.png"]))
    with pytest.raises(psycopg.Error):
        write_delta(conn, TABLE, delta(["train/happy/ok.png", "train/happy/" + "x" * 300]))
    assert read_partitions(conn, TABLE, None)["filepath"].to_list() == ["train/happy/keep.png"]


def test_copy_is_binary_and_counts(conn):
    with conn.transaction():
        assert copy_rows(conn, TABLE, delta(["p1", "p2", "p3"]).rows()) == 3


def test_a_partition_is_read_in_pages_whole_or_by_ids(conn, monkeypatch):
    monkeypatch.setattr(rows, "PAGE_ROWS", 3)  # 8 rows: pages of 3, 3 and 2 (a value over 1 GB never forms)
    written = delta([f"train/sad/{i}.png" for i in range(8)], emotion="sad", seed=2)
    write_delta(conn, TABLE, written)
    whole = rows.read_partition(conn, TABLE, "sad")
    assert whole["filepath"].to_list() == list(written.filepaths)
    assert np.allclose(whole["vector"].to_numpy(), written.vectors)
    ids = whole["id"].to_list()
    some = rows.read_partition(conn, TABLE, "sad", only=[ids[0], ids[4], ids[5], ids[7]])
    assert some["id"].to_list() == [ids[0], ids[4], ids[5], ids[7]]
    assert np.allclose(some["vector"].to_numpy(), written.vectors[[0, 4, 5, 7]])
