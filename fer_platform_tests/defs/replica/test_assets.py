"""azure_replica and its checks through Dagster: the replica follows the source, a killed sync keeps its rows."""

import os
import signal
import subprocess
import sys

import psycopg
import pytest
from dagster import DagsterInstance, build_op_context

from fer_platform.definitions import build_definitions
from fer_platform.defs.replica.checks import replica_content_matches_source, replica_rows_match_source
from fer_platform.orchestration.names import SYNC_JOB, VERIFY_REPLICA_JOB
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.postgres.connection import DatabaseUnreachableError
from fer_platform.replica.sync import apply_rows, stream_rows
from fer_platform.settings import load_settings
from fer_platform.table.aggregates import from_rows, partition_aggregate
from fer_platform_tests.support.helpers import asset_metadata, check_results, data_directory, run_partition, table_rows

REPLICA_CHECKS = {"replica_rows_match_source": True, "replica_content_matches_source": True}


def sync(emotion):
    result = run_partition(emotion, job_name=SYNC_JOB)
    assert result.success
    return result


def test_replica_equals_source_and_follows_changes(fer_env, image_root):
    sync("happy")
    first = sync("sad")
    assert {k: v for k, v in check_results(first).items() if k.startswith("replica")} == REPLICA_CHECKS
    source, replica = fer_env["FER_PG_DSN"], fer_env["FER_REPLICA_DSN"]
    with psycopg.connect(source) as s, psycopg.connect(replica) as r:
        assert data_directory(s) != data_directory(r)  # two server processes, as with Azure
    assert table_rows(replica).keys() == table_rows(source).keys()
    folder = image_root / "train" / "happy"
    (folder / "added.png").write_bytes((image_root / "train" / "sad" / "im0.png").read_bytes())
    (folder / "im1.png").write_bytes((image_root / "train" / "angry" / "im1.png").read_bytes())
    (folder / "im2.png").unlink()
    result = sync("happy")
    meta = asset_metadata(result, "azure_replica")
    # Only the delta moves: added and im1 are copied, im2 (and im1's old id) removed, im0 and im3 not read.
    assert (meta["copied_rows"], meta["compared_whole"]) == (2, False)
    assert meta["removed_rows"] == meta["changed_ids"] - 2 and meta["changed_ids"] in (3, 4)
    src, rep = table_rows(source, "happy"), table_rows(replica, "happy")
    assert src.keys() == rep.keys() == {f"train/happy/{n}.png" for n in ("im0", "im1", "im3", "added")}
    for path, (row_id, digest, vector) in src.items():
        assert rep[path][0] == row_id and rep[path][1] == digest and (rep[path][2] == vector).all()
    assert len(table_rows(replica, "sad")) == 4  # other partitions untouched


def test_second_sync_is_a_no_op(fer_env):
    sync("angry")
    meta = asset_metadata(sync("angry"), "azure_replica")
    assert meta["skipped_in_sync"] is True and meta["copied_rows"] == 0 and meta["rows"] == 4


def test_failure_mid_sync_keeps_the_replica_rows(fer_env):
    sync("happy")
    source, replica = fer_env["FER_PG_DSN"], fer_env["FER_REPLICA_DSN"]
    before = table_rows(replica, "happy")
    with psycopg.connect(source) as conn:
        conn.execute("DELETE FROM imagenes_fer WHERE filepath = 'train/happy/im0.png'")
        conn.commit()

    def broken_stream(conn):
        for chunk in stream_rows(conn, "imagenes_fer", "happy", None):
            yield chunk[: len(chunk) // 2]
            raise ConnectionResetError("source went away")

    with psycopg.connect(source) as src, psycopg.connect(replica) as rep:
        with pytest.raises(ConnectionResetError), rep.transaction():
            apply_rows(rep, "imagenes_fer", "happy", None, broken_stream(src))
    after = table_rows(replica, "happy")
    assert after.keys() == before.keys()


def exact_rows(dsn: str, emotion: str) -> dict[str, tuple[int, str, bytes]]:
    return {
        path: (row_id, digest, vector.tobytes()) for path, (row_id, digest, vector) in table_rows(dsn, emotion).items()
    }


# Syncs the happy partition in a real process that SIGKILLs itself half-way through the COPY into the replica.
KILLED_SYNC = """
import os, signal
from fer_platform.replica import sync
original = sync.stream_rows
def stream_then_die(*args):
    for chunk in original(*args):
        yield chunk[: len(chunk) // 2]
        os.kill(os.getpid(), signal.SIGKILL)
sync.stream_rows = stream_then_die
from fer_platform.definitions import build_definitions
from fer_platform.orchestration.names import SYNC_JOB, VERIFY_REPLICA_JOB
from fer_platform_tests.support.helpers import run_partition
run_partition("happy", job_name=SYNC_JOB)
"""


@pytest.mark.slow  # SIGKILL of a sync subprocess
def test_a_sync_killed_mid_copy_keeps_the_replica_rows_and_reruns(fer_env, image_root):
    sync("happy")
    replica = fer_env["FER_REPLICA_DSN"]
    before = exact_rows(replica, "happy")
    (image_root / "train" / "happy" / "im0.png").unlink()
    proc = subprocess.run([sys.executable, "-c", KILLED_SYNC], env=os.environ.copy(), capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert exact_rows(replica, "happy") == before  # the killed transaction left nothing behind
    sync("happy")  # no lock or half-written rows left to trip over
    assert table_rows(replica, "happy").keys() == table_rows(fer_env["FER_PG_DSN"], "happy").keys()
    assert len(table_rows(replica, "happy")) == 3


def test_checksum_check_catches_one_altered_vector(fer_env):
    sync("sad")
    with psycopg.connect(fer_env["FER_REPLICA_DSN"], autocommit=True) as conn:
        conn.execute(
            "UPDATE imagenes_fer SET vector = array_fill(0.5, ARRAY[512])::vector WHERE filepath = 'train/sad/im2.png'"
        )
    postgres = PostgresResource(dsn=fer_env["FER_PG_DSN"], embedded_pgdata="unused")
    replica = PostgresResource(dsn=fer_env["FER_REPLICA_DSN"], embedded_pgdata="unused")
    context = build_op_context(partition_key="sad", resources={"postgres": postgres, "replica": replica})
    assert replica_rows_match_source(context).passed is True  # counts alone do not see it
    assert replica_content_matches_source(context).passed is False


def test_checksum_is_order_independent_and_content_sensitive(fer_env):
    sync("happy")
    with psycopg.connect(fer_env["FER_PG_DSN"]) as conn:
        base = from_rows(conn, "imagenes_fer", "happy")["happy"]
        conn.execute("UPDATE imagenes_fer SET filepath = filepath || 'x' WHERE filepath = 'train/happy/im0.png'")
        assert from_rows(conn, "imagenes_fer", "happy")["happy"] != base
        assert partition_aggregate(conn, "imagenes_fer", "happy") == from_rows(conn, "imagenes_fer", "happy")["happy"]
        conn.rollback()
        conn.execute("CLUSTER imagenes_fer USING imagenes_fer_emotion_idx")
        assert from_rows(conn, "imagenes_fer", "happy")["happy"] == base


@pytest.mark.slow  # waits out the retries
def test_unreachable_replica_fails_clearly_after_retries(fer_env, monkeypatch):
    monkeypatch.setenv("FER_REPLICA_DSN", "postgresql://fer:secret-pw@127.0.0.1:1/fer_vct?connect_timeout=2")
    result = run_partition("happy", job_name=SYNC_JOB)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failures[-1].event_specific_data.error)
    assert "cannot connect to PostgreSQL at fer@127.0.0.1:1/fer_vct" in message and "firewall" in message
    assert "secret-pw" not in message
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 3


def test_unreachable_error_never_shows_the_password():
    resource = PostgresResource(
        dsn="postgresql://u:hunter2@127.0.0.1:1/db", embedded_pgdata="unused", connect_timeout_s=2
    )
    with pytest.raises(DatabaseUnreachableError) as err:
        with resource.connect():
            pass
    assert "hunter2" not in str(err.value) and "u@127.0.0.1:1/db" in str(err.value)


def test_verify_replica_recomputes_and_names_what_differs(fer_env):
    sync("happy")
    defs = build_definitions(load_settings())
    verify = defs.resolve_job_def(VERIFY_REPLICA_JOB)
    assert verify.execute_in_process(instance=DagsterInstance.ephemeral()).success
    with psycopg.connect(fer_env["FER_REPLICA_DSN"], autocommit=True) as conn:
        conn.execute("ALTER TABLE imagenes_fer DISABLE TRIGGER imagenes_fer_aggregates_delete")
        conn.execute("DELETE FROM imagenes_fer WHERE filepath = 'train/happy/im3.png'")  # figures left stale
        conn.execute("ALTER TABLE imagenes_fer ENABLE TRIGGER imagenes_fer_aggregates_delete")
    failed = verify.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not failed.success
    message = str([e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"][0].event_specific_data.error)
    assert "replica:happy" in message and "differs:happy" in message and "source:" not in message
    repaired = asset_metadata(sync("happy"), "azure_replica")  # recomputed figures: the sync compares it whole
    assert repaired["compared_whole"] is True and repaired["copied_rows"] >= 1
    assert verify.execute_in_process(instance=DagsterInstance.ephemeral()).success


def test_verify_replica_finds_a_vector_no_landing_check_looked_at(fer_env):
    """The landing checks look at the rows a run wrote; a stored vector zeroed later is found on schedule."""
    sync("sad")
    sync("sad")  # a landing of nothing: its checks look at no row
    with psycopg.connect(fer_env["FER_PG_DSN"], autocommit=True) as conn:
        conn.execute(
            "UPDATE imagenes_fer SET vector = array_fill(0, ARRAY[512])::vector WHERE filepath = 'train/sad/im1.png'"
        )
    assert all(check_results(sync("sad")).values())  # its row was not the landing's
    verify = build_definitions(load_settings()).resolve_job_def(VERIFY_REPLICA_JOB)
    failed = verify.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)
    message = str([e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"][0].event_specific_data.error)
    assert not failed.success and "sad:train/sad/im1.png" in message and "invalid vector" in message
