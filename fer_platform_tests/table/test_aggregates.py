"""The per-partition aggregates kept by triggers equal a recomputation from the rows, whatever wrote them."""

import psycopg

from fer_platform.table.aggregates import EMPTY, from_rows, partition_aggregate, recompute, stored
from fer_platform.table.schema import ensure_table
from fer_platform_tests.support.random_rows import connect_table, insert_partition

TABLE = "imagenes_fer"


def assert_maintained(conn: psycopg.Connection) -> None:
    assert stored(conn, TABLE) == from_rows(conn, TABLE)


def test_inserts_updates_deletes_and_copy_keep_the_figures_exact(pg_dsn):
    with connect_table(pg_dsn) as conn:
        assert partition_aggregate(conn, TABLE, "happy") == EMPTY
        insert_partition(conn, "happy", range(5))
        insert_partition(conn, "sad", range(3))
        assert partition_aggregate(conn, TABLE, "happy").rows == 5
        assert_maintained(conn)
        conn.execute(f"UPDATE {TABLE} SET vector = array_fill(0.25, ARRAY[512])::vector WHERE filepath LIKE '%%/1.png'")
        conn.execute(f"UPDATE {TABLE} SET emotion = 'sad' WHERE filepath = 'train/happy/2.png'")  # moves partition
        conn.execute(f"DELETE FROM {TABLE} WHERE filepath = 'train/happy/3.png'")
        assert_maintained(conn)
        assert (partition_aggregate(conn, TABLE, "happy").rows, partition_aggregate(conn, TABLE, "sad").rows) == (3, 4)
        with conn.cursor() as cur, cur.copy(f"COPY {TABLE} (filepath, emotion, vector) FROM STDIN") as copy:
            copy.write_row(("train/angry/0.png", "angry", "[" + ",".join(["0.5"] * 512) + "]"))
        assert_maintained(conn)
        assert set(stored(conn, TABLE)) == {"happy", "sad", "angry"}
        conn.execute(f"TRUNCATE {TABLE}")
        assert stored(conn, TABLE) == from_rows(conn, TABLE) == {}


def test_a_rolled_back_write_leaves_the_figures(pg_dsn):
    with connect_table(pg_dsn) as conn:
        insert_partition(conn, "happy", range(4))
        before = stored(conn, TABLE)
        try:
            with conn.transaction():
                conn.execute(f"DELETE FROM {TABLE} WHERE filepath = 'train/happy/0.png'")
                assert partition_aggregate(conn, TABLE, "happy").rows == 3
                raise RuntimeError("writer fails")
        except RuntimeError:
            pass
        assert stored(conn, TABLE) == before == from_rows(conn, TABLE)


def test_a_table_that_already_holds_rows_gets_its_figures_when_adopted(pg_dsn):
    with connect_table(pg_dsn) as conn:
        insert_partition(conn, "fear", range(6))
        conn.execute(f"DROP TRIGGER {TABLE}_aggregates_insert ON {TABLE}")
        insert_partition(conn, "fear", range(6, 9))  # written while nothing counted
        assert stored(conn, TABLE) != from_rows(conn, TABLE)
        ensure_table(conn, TABLE)  # re-installs the trigger and recomputes under a lock
        assert_maintained(conn)
        conn.execute("UPDATE fer_partition_aggregates SET rows = 1")
        recompute(conn, TABLE)
        assert_maintained(conn)
