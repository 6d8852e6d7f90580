"""``vector_index``: the HNSW index that similarity search runs on, kept on the replica (the serving copy)."""

from dagster import AssetExecutionContext, AssetsDefinition, AutomationCondition, MaterializeResult, asset

from fer_platform.postgres.resource import PostgresResource
from fer_platform.search.index import HNSW_EF_CONSTRUCTION, HNSW_M, index_name, maintain_index


def build_vector_index(table: str) -> AssetsDefinition:
    @asset(
        name="vector_index",
        deps=["azure_replica"],
        group_name="search",
        kinds={"postgres"},
        automation_condition=AutomationCondition.eager(),
    )
    def vector_index(context: AssetExecutionContext, replica: PostgresResource) -> MaterializeResult:
        """HNSW (cosine, m=16, ef_construction=64) on the replica's vectors: created after the first load,
        rebuilt concurrently once a fifth of the rows changed since the last build, kept otherwise.
        Materialized automatically after replica updates."""
        with replica.connect() as conn:
            conn.autocommit = True
            report = maintain_index(conn, table)
        context.log.info(f"{index_name(table)}: {report.action} over {report.rows} rows in {report.seconds:.1f} s")
        return MaterializeResult(
            metadata={
                "action": report.action,
                "rows": report.rows,
                "changed_since_build": report.changed_since_build,
                "seconds": round(report.seconds, 2),
                "index": index_name(table),
                "params": f"hnsw vector_cosine_ops m={HNSW_M} ef_construction={HNSW_EF_CONSTRUCTION}",
            }
        )

    return vector_index
