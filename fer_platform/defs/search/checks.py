"""Blocking check that the index finds what exact search finds, overall and within an emotion."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from fer_platform.defs.search.resources import SearchResource
from fer_platform.orchestration import names
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.search.query import recall_at_k, sample_vectors
from fer_platform.table.schema import DEFAULT_TABLE

MIN_RECALL = 0.98
SAMPLE = 100
K = 10


@asset_check(asset=names.VECTOR_INDEX, blocking=True)
def recall_at_10(
    context: AssetCheckExecutionContext, replica: PostgresResource, search: SearchResource
) -> AssetCheckResult:
    """recall@10 of HNSW vs exact search on 100 stored vectors >= 0.98 at FER_EF_SEARCH, without
    and with an emotion filter (iterative index scans)."""
    with replica.connect() as conn:
        queries = sample_vectors(conn, DEFAULT_TABLE, SAMPLE)
        overall = recall_at_k(conn, DEFAULT_TABLE, queries, K, search.ef_search, filtered=False)
        filtered = recall_at_k(conn, DEFAULT_TABLE, queries, K, search.ef_search, filtered=True)
    return AssetCheckResult(
        passed=min(overall, filtered) >= MIN_RECALL,
        metadata={
            "recall_at_10": overall,
            "recall_at_10_within_emotion": filtered,
            "ef_search": search.ef_search,
            "queries": len(queries),
            "threshold": MIN_RECALL,
        },
    )
