"""Blocking asset checks on each partition of ``embeddings_table``."""

import polars as pl
from dagster import AssetCheckResult, AssetChecksDefinition, AssetIn, PartitionsDefinition, asset_check
from psycopg import sql

from fer_platform.embeddings.model import EMBEDDING_DIM
from fer_platform.embeddings.store import partition_row_count
from fer_platform.postgres.resource import PostgresResource
from fer_platform.raw_images.resource import ImageFolderResource

INVALID_VECTORS = """
SELECT filepath FROM {table}
WHERE emotion = %s AND (
    vector IS NULL OR vector_dims(vector) <> %s
    OR vector_norm(vector) = 0 OR vector_norm(vector) IN ('NaN'::float8, 'Infinity'::float8)
)
ORDER BY filepath LIMIT 20
"""
DUPLICATE_PATHS = """
SELECT filepath, count(*) FROM {table} WHERE emotion = %s
GROUP BY filepath HAVING count(*) > 1 ORDER BY filepath LIMIT 20
"""
ROWS_IN_SCOPE = "SELECT count(*) FROM {table} WHERE emotion = %s AND filepath = ANY(%s)"


def query(postgres: PostgresResource, statement: str, table: str, params: tuple) -> list[tuple]:
    """Run one read-only check query against ``table``."""
    with postgres.connect(vector=False) as conn:
        return conn.execute(sql.SQL(statement).format(table=sql.Identifier(table)), params).fetchall()


def build_embeddings_checks(partitions: PartitionsDefinition, table: str) -> list[AssetChecksDefinition]:
    """Row count, unique paths and vector validity, each blocking and per partition."""

    @asset_check(
        asset="embeddings_table",
        blocking=True,
        partitions_def=partitions,
        additional_ins={"raw_images": AssetIn("raw_images")},
    )
    def rows_match_manifest(
        context, postgres: PostgresResource, images: ImageFolderResource, raw_images: pl.DataFrame
    ) -> AssetCheckResult:
        """Rows stored for the emotion folder == manifest files that decoded (no missing, no stale rows)."""
        emotion = context.partition_key
        decodable = raw_images.filter(pl.col("error").is_null()).get_column("filepath").to_list()
        for_decodable = query(postgres, ROWS_IN_SCOPE, table, (emotion, decodable))[0][0]
        with postgres.connect(vector=False) as conn:
            in_folder = partition_row_count(conn, table, emotion, images.scope(emotion))
        return AssetCheckResult(
            passed=in_folder == for_decodable == len(decodable),
            metadata={
                "decodable_files": len(decodable),
                "rows_for_those_files": for_decodable,
                "rows_in_folder": in_folder,
            },
        )

    @asset_check(asset="embeddings_table", blocking=True, partitions_def=partitions)
    def filepaths_unique(context, postgres: PostgresResource) -> AssetCheckResult:
        """No file path is stored twice in the partition."""
        duplicates = query(postgres, DUPLICATE_PATHS, table, (context.partition_key,))
        return AssetCheckResult(passed=not duplicates, metadata={"duplicates": [f"{p} x{n}" for p, n in duplicates]})

    @asset_check(asset="embeddings_table", blocking=True, partitions_def=partitions)
    def vectors_valid(context, postgres: PostgresResource) -> AssetCheckResult:
        """Every vector has 512 finite values and a non-zero norm."""
        bad = query(postgres, INVALID_VECTORS, table, (context.partition_key, EMBEDDING_DIM))
        return AssetCheckResult(passed=not bad, metadata={"invalid_examples": [p for (p,) in bad]})

    return [rows_match_manifest, filepaths_unique, vectors_valid]
