"""``vector_index``: the HNSW index that similarity search runs on, kept on the replica (the serving copy)."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from fer_platform.orchestration import names
from fer_platform.orchestration.automation import SERVED_FRESHNESS, served_automation
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.search.index import HNSW_EF_CONSTRUCTION, HNSW_M, index_name, maintain_index
from fer_platform.table.schema import DEFAULT_TABLE


@asset(
    name=names.VECTOR_INDEX,
    deps=[names.AZURE_REPLICA],
    kinds={"postgres"},
    automation_condition=served_automation(),
    freshness_policy=SERVED_FRESHNESS,
)
def vector_index(context: AssetExecutionContext, replica: PostgresResource) -> MaterializeResult:
    """HNSW (cosine, m=16, ef_construction=64) on the replica's vectors: created after the first load,
    rebuilt concurrently once a fifth of the rows changed since the last build, kept otherwise.
    Materialized automatically (search_index_automation) after replica updates whose blocking checks passed,
    and once a day."""
    with replica.connect() as conn:
        conn.autocommit = True
        report = maintain_index(conn, DEFAULT_TABLE)
    name = index_name(DEFAULT_TABLE)
    context.log.info(f"{name}: {report.action} over {report.rows} rows in {report.seconds:.1f} s")
    return MaterializeResult(
        metadata={
            "action": report.action,
            "rows": report.rows,
            "changed_since_build": report.changed_since_build,
            "seconds": round(report.seconds, 2),
            "index": name,
            "params": f"hnsw vector_cosine_ops m={HNSW_M} ef_construction={HNSW_EF_CONSTRUCTION}",
        }
    )
