"""recall_at_10 measures the index (not a sequential scan) and, on a bad one, fails and blocks what reads it next."""

from functools import partial

import numpy as np
import psycopg
import pytest
from dagster import DagsterInstance, Definitions, asset, define_asset_job
from pgvector.psycopg import register_vector

from fer_platform.definitions import build_definitions
from fer_platform.defs.search import assets as search_assets
from fer_platform.orchestration import names
from fer_platform.search.index import BuildSettings
from fer_platform.settings import load_settings
from fer_platform.table.schema import ensure_table
from fer_platform_tests.support.helpers import check_results
from fer_platform_tests.support.random_rows import insert


@pytest.fixture
def replica_with_rows(fer_env):
    with psycopg.connect(fer_env["FER_REPLICA_DSN"], autocommit=True) as conn:
        ensure_table(conn, "imagenes_fer")
        register_vector(conn)
        insert(conn, 0, 600, np.random.default_rng(0))
    return fer_env


@asset(deps=[names.VECTOR_INDEX])
def served_search() -> None:
    """Stands for whatever reads the index next: a blocking check must stop it."""


def build_index():
    """vector_index with its check, and an asset downstream of it, in one run on the real definitions."""
    defs = Definitions.merge(
        build_definitions(load_settings()),
        Definitions(
            assets=[served_search],
            jobs=[define_asset_job("index_then_search", selection=[names.VECTOR_INDEX, "served_search"])],
        ),
    )
    with DagsterInstance.ephemeral() as instance:
        return defs.resolve_job_def("index_then_search").execute_in_process(instance=instance, raise_on_error=False)


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_recall_check_fails_on_a_poor_graph_and_passes_at_the_defaults(replica_with_rows, monkeypatch):
    """A graph built with m=2, ef_construction=4 and searched at ef_search=10 misses neighbours (an answer is
    still complete: ef_search below k is raised to k, so ef_search alone cannot make it fail any more)."""
    monkeypatch.setattr(search_assets, "BuildSettings", partial(BuildSettings, m=2, ef_construction=4))
    monkeypatch.setenv("FER_EF_SEARCH", "10")
    bad = build_index()
    assert check_results(bad)["recall_at_10"] is False and not bad.success
    evaluation = next(e for e in bad.get_asset_check_evaluations() if e.check_name == "recall_at_10")
    assert evaluation.metadata["recall_at_10"].value < 0.9
    assert evaluation.metadata["filtered_plan_uses_index"].value is True
    assert materialized(bad) == {names.VECTOR_INDEX}  # the downstream asset was blocked
    monkeypatch.setattr(search_assets, "BuildSettings", BuildSettings)
    monkeypatch.delenv("FER_EF_SEARCH")
    with psycopg.connect(replica_with_rows["FER_REPLICA_DSN"], autocommit=True) as conn:
        conn.execute("DROP INDEX imagenes_fer_halfvec_hnsw")  # rebuilt at the defaults
    good = build_index()
    assert check_results(good)["recall_at_10"] is True and good.success
    assert materialized(good) == {names.VECTOR_INDEX, "served_search"}
