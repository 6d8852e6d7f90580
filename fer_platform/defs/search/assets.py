"""``vector_index``: the HNSW index that similarity search runs on, kept on the replica (the serving copy)."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from fer_platform.defs.search.resources import SearchResource
from fer_platform.orchestration import names
from fer_platform.orchestration.automation import SERVED_FRESHNESS, served_automation
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.search.index import HNSW_EF_CONSTRUCTION, HNSW_M, BuildSettings, index_name, maintain_index
from fer_platform.table.schema import DEFAULT_TABLE


@asset(
    name=names.VECTOR_INDEX,
    deps=[names.AZURE_REPLICA],
    kinds={"postgres"},
    automation_condition=served_automation(),
    freshness_policy=SERVED_FRESHNESS,
)
def vector_index(
    context: AssetExecutionContext, replica: PostgresResource, search: SearchResource
) -> MaterializeResult:
    """HNSW (cosine, m=16, ef_construction=64) on half-precision copies of the replica's vectors
    (``vector::halfvec(512)``): created after the first load, rebuilt concurrently once a fifth of the rows
    changed since the last build (maintained figures, no count), kept otherwise; built with
    FER_INDEX_BUILD_MEMORY and FER_INDEX_BUILD_WORKERS, its progress in the run's log.
    Materialized automatically (search_index_automation) after replica updates whose blocking checks passed,
    and once a day."""
    settings = BuildSettings(memory=search.build_memory, workers=search.build_workers)
    with replica.connect() as conn:
        conn.autocommit = True
        report = maintain_index(conn, DEFAULT_TABLE, settings=settings, log=context.log.info)
    name = index_name(DEFAULT_TABLE)
    context.log.info(f"{name}: {report.action} over {report.rows} rows in {report.seconds:.1f} s")
    return MaterializeResult(
        metadata={
            "action": report.action,
            "rows": report.rows,
            "changed_since_build": report.changed_since_build,
            "seconds": round(report.seconds, 2),
            "index": name,
            "params": f"hnsw halfvec_cosine_ops m={HNSW_M} ef_construction={HNSW_EF_CONSTRUCTION} "
            f"maintenance_work_mem={search.build_memory} workers={search.build_workers}",
        }
    )
