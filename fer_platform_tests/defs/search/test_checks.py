"""recall_at_10 measures the index (not a sequential scan) and fails, blocking the run, on a bad one."""

import numpy as np
import psycopg
import pytest
from dagster import DagsterInstance
from pgvector.psycopg import register_vector

from fer_platform.definitions import build_definitions
from fer_platform.lib.names import INDEX_JOB
from fer_platform.settings import load_settings
from fer_platform.table.schema import ensure_table
from fer_platform_tests.helpers import check_results
from fer_platform_tests.search.test_query import insert


@pytest.fixture
def replica_with_rows(fer_env):
    with psycopg.connect(fer_env["FER_REPLICA_DSN"], autocommit=True) as conn:
        ensure_table(conn, "imagenes_fer")
        register_vector(conn)
        insert(conn, 0, 600, np.random.default_rng(0))
    return fer_env


def build_index():
    job = build_definitions(load_settings()).resolve_job_def(INDEX_JOB)
    with DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False)


def test_recall_check_fails_at_ef_search_1_and_passes_at_the_default(replica_with_rows, monkeypatch):
    monkeypatch.setenv("FER_EF_SEARCH", "1")  # the index then returns a single candidate per query
    bad = build_index()
    assert check_results(bad)["recall_at_10"] is False and not bad.success
    evaluation = next(e for e in bad.get_asset_check_evaluations() if e.check_name == "recall_at_10")
    assert evaluation.metadata["recall_at_10"].value < 0.2
    monkeypatch.delenv("FER_EF_SEARCH")
    assert check_results(build_index())["recall_at_10"] is True
