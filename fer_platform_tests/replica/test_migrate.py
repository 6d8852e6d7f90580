"""The initial migration with the real pg_dump / pg_restore, between two real server processes."""

import psycopg
import pytest
from dagster import DagsterInstance

from fer_platform.definitions import build_definitions
from fer_platform.replica.migrate import ToolVersionError, find_tools, migrate, tool_major
from fer_platform.settings import load_settings
from fer_platform.table.aggregates import from_rows, stored
from fer_platform.table.schema import ExtensionUnavailableError, ensure_table
from fer_platform_tests.support.helpers import data_directory, run_partition, table_rows


def test_dump_restore_end_to_end(fer_env):
    for emotion in ("angry", "happy"):
        assert run_partition(emotion).success
    source, replica = fer_env["FER_PG_DSN"], fer_env["FER_REPLICA_DSN"]
    result = migrate(source, replica, "imagenes_fer")
    assert result.rows == 8 and result.dump_bytes > 8 * 512 * 4
    with psycopg.connect(source) as s, psycopg.connect(replica) as r:
        assert data_directory(s) != data_directory(r)  # two server processes, as with Azure
        assert from_rows(s, "imagenes_fer") == from_rows(r, "imagenes_fer") == stored(r, "imagenes_fer")
        assert set(from_rows(r, "imagenes_fer")) == {"angry", "happy"}
        assert r.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone()
        indexes = {n for (n,) in r.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'imagenes_fer'")}
        assert {"imagenes_fer_pkey", "imagenes_fer_filepath_key", "imagenes_fer_emotion_idx"} <= indexes
        # The sequence came along and continues after the copied ids.
        next_id = r.execute("SELECT nextval(pg_get_serial_sequence('imagenes_fer', 'id'))").fetchone()[0]
        assert next_id > max(row_id for row_id, _, _ in table_rows(replica).values())
    assert migrate(source, replica, "imagenes_fer").rows == 8  # repeatable


def test_tools_are_checked_against_the_server_version(monkeypatch, tmp_path):
    assert tool_major(find_tools(18) / "pg_dump") >= 18
    monkeypatch.setenv("FER_PG_BIN", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolVersionError, match="PostgreSQL 99 client tools.*FER_PG_BIN"):
        find_tools(99)


def test_extension_refusal_says_how_to_allow_it_on_azure(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute("CREATE ROLE azure_admin LOGIN")
        admin.execute("GRANT CREATE ON DATABASE " + admin.info.dbname + " TO azure_admin")
        admin.execute("GRANT CREATE ON SCHEMA public TO azure_admin")
    try:
        with psycopg.connect(pg_dsn, user="azure_admin") as conn:
            with pytest.raises(ExtensionUnavailableError, match="azure.extensions.*VECTOR"):
                ensure_table(conn)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute("DROP OWNED BY azure_admin")
            admin.execute("DROP ROLE azure_admin")


def test_initial_migration_job_in_dagster(fer_env):
    assert run_partition("sad").success
    defs = build_definitions(load_settings())
    result = defs.resolve_job_def("initial_migration").execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    assert len(table_rows(fer_env["FER_REPLICA_DSN"], "sad")) == 4
