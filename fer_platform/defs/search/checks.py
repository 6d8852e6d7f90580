"""Blocking check that the index finds what exact search finds, overall and within an emotion, and that
filtered queries are planned on it."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from fer_platform.defs.search.resources import SearchResource
from fer_platform.orchestration import names
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.search.index import index_name
from fer_platform.search.query import explain
from fer_platform.search.recall import recall_at_k
from fer_platform.table.aggregates import stored
from fer_platform.table.schema import DEFAULT_TABLE

MIN_RECALL = 0.98
K = 10


@asset_check(asset=names.VECTOR_INDEX, blocking=True)
def recall_at_10(
    context: AssetCheckExecutionContext, replica: PostgresResource, search: SearchResource
) -> AssetCheckResult:
    """recall@10 of HNSW vs exact search >= 0.98 at FER_EF_SEARCH, without and with an emotion filter, measured
    on a bounded random subset (``search.recall``: its cost does not grow with a scan of the table); and a
    query filtered by the smallest emotion is planned on the HNSW index."""
    with replica.connect() as conn:
        partitions = stored(conn, DEFAULT_TABLE)
        rows = sum(a.rows for a in partitions.values())
        overall, queries, subset = recall_at_k(conn, DEFAULT_TABLE, rows, K, search.ef_search, filtered=False)
        filtered, _, _ = recall_at_k(conn, DEFAULT_TABLE, rows, K, search.ef_search, filtered=True)
        rarest = min(partitions, key=lambda e: partitions[e].rows) if partitions else None
        plan = explain(conn, DEFAULT_TABLE, K, rarest, search.ef_search)
    planned = index_name(DEFAULT_TABLE) in plan and "Sort" not in plan
    return AssetCheckResult(
        passed=min(overall, filtered) >= MIN_RECALL and planned,
        metadata={
            "recall_at_10": overall,
            "recall_at_10_within_emotion": filtered,
            "ef_search": search.ef_search,
            "queries": queries,
            "subset_rows": subset,
            "filtered_plan_uses_index": planned,
            "threshold": MIN_RECALL,
        },
    )
