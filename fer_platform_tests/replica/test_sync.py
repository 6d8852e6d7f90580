"""The delta sync between two real PostgreSQL servers: only logged changes move, exactly once."""

import psycopg
import pytest
from pgvector.psycopg import register_vector

from fer_platform.replica import sync as sync_module
from fer_platform.replica.sync import ensure_sync_state, sync_partition
from fer_platform.table.aggregates import from_rows, stored
from fer_platform.table.change_log import CHANGES, ensure_change_log
from fer_platform_tests.support.random_rows import connect_table, insert_partition

TABLE = "imagenes_fer"


def all_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(f"SELECT id, filepath, emotion, vector::text FROM {TABLE} ORDER BY id").fetchall()


@pytest.fixture
def servers(pg_dsn, replica_dsn):
    with connect_table(pg_dsn) as source, connect_table(replica_dsn) as replica:
        ensure_change_log(source, TABLE)
        ensure_sync_state(replica)
        yield source, replica


def sync(servers, emotion="happy"):
    return sync_partition(servers[0], servers[1], TABLE, emotion)


def assert_identical(source, replica):
    assert all_rows(source) == all_rows(replica)
    assert stored(replica, TABLE) == from_rows(replica, TABLE) == stored(source, TABLE)


def test_only_the_changed_rows_move(servers):
    source, replica = servers
    insert_partition(source, "happy", range(0, 20))
    first = sync(servers)
    assert first.compared_whole and first.copied_rows == 20
    insert_partition(source, "happy", range(20, 23))
    source.execute(f"DELETE FROM {TABLE} WHERE filepath = 'train/happy/4.png'")
    changed = "array_fill(0.5, ARRAY[512])::vector"
    source.execute(f"UPDATE {TABLE} SET vector = {changed} WHERE filepath = 'train/happy/7.png'")
    second = sync(servers)
    assert (second.changed_ids, second.copied_rows, second.removed_rows, second.compared_whole) == (5, 4, 1, False)
    assert_identical(source, replica)
    assert source.execute(f"SELECT count(*) FROM {CHANGES}").fetchone()[0] == 0  # applied entries pruned
    third = sync(servers)
    assert third.skipped and third.changed_ids == 0


def test_a_sync_that_dies_before_pruning_applies_the_delta_once_on_rerun(servers, monkeypatch):
    source, replica = servers
    insert_partition(source, "happy", range(0, 10))
    sync(servers)
    insert_partition(source, "happy", range(10, 13))
    source.execute(f"DELETE FROM {TABLE} WHERE filepath = 'train/happy/1.png'")

    def die(*args):
        raise ConnectionResetError("killed after the replica committed")

    monkeypatch.setattr(sync_module, "prune", die)
    with pytest.raises(ConnectionResetError):
        sync(servers)
    monkeypatch.undo()
    assert_identical(source, replica)  # the replica transaction committed before the kill
    rerun = sync(servers)
    assert rerun.changed_ids == 0 and rerun.skipped  # the horizon moved with the rows: nothing applied twice
    assert_identical(source, replica)


def test_a_write_open_during_the_sync_is_picked_up_by_the_next(servers, pg_dsn):
    source, replica = servers
    insert_partition(source, "happy", range(0, 5))
    sync(servers)
    with psycopg.connect(pg_dsn) as writer:
        register_vector(writer)
        insert_partition(writer, "happy", range(5, 8))  # not committed while the sync runs
        assert sync(servers).skipped
        writer.commit()
    assert sync(servers).copied_rows == 3
    assert_identical(source, replica)


def test_truncate_and_a_hand_edited_replica_are_compared_whole(servers):
    source, replica = servers
    insert_partition(source, "happy", range(0, 6))
    insert_partition(source, "sad", range(0, 2))
    sync(servers), sync(servers, "sad")
    replica.execute(f"DELETE FROM {TABLE} WHERE filepath = 'train/happy/2.png'")
    repaired = sync(servers)
    assert repaired.compared_whole and repaired.changed_ids == 0
    assert_identical(source, replica)
    source.execute(f"TRUNCATE {TABLE}")
    insert_partition(source, "happy", range(100, 102))
    after = sync(servers)
    assert after.compared_whole and after.removed_rows == 6 and after.copied_rows == 2
    assert sync(servers, "sad").removed_rows == 2
    assert_identical(source, replica)


def test_a_row_that_moves_between_emotions_follows_in_either_order(servers):
    source, replica = servers
    insert_partition(source, "happy", range(0, 3))
    sync(servers), sync(servers, "sad")
    source.execute(f"UPDATE {TABLE} SET emotion = 'sad' WHERE filepath = 'train/happy/0.png'")
    assert sync(servers, "sad").copied_rows == 1  # upserted by id over the replica's happy row
    assert sync(servers).removed_rows == 0
    assert_identical(source, replica)
