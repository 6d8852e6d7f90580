"""Blocking asset checks on each partition of ``embeddings_table``."""

import polars as pl
from dagster import AssetCheckResult, AssetIn, asset_check
from psycopg import sql

from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, PostgresResource
from fer_platform.table.rows import partition_row_count
from fer_platform.table.schema import DEFAULT_TABLE, EMBEDDING_DIM

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


def query(postgres: PostgresResource, statement: str, params: tuple) -> list[tuple]:
    """Run one read-only check query against the table."""
    with postgres.connect(vector=False) as conn:
        return conn.execute(sql.SQL(statement).format(table=sql.Identifier(DEFAULT_TABLE)), params).fetchall()


@asset_check(
    asset=names.EMBEDDINGS_TABLE,
    blocking=True,
    partitions_def=EMOTION_PARTITIONS,
    additional_ins={"raw_images": AssetIn(names.RAW_IMAGES)},
)
def rows_match_manifest(
    context, postgres: PostgresResource, images: ImagesResource, raw_images: pl.DataFrame
) -> AssetCheckResult:
    """Rows stored for the emotion folder == manifest files that decoded (no missing, no stale rows)."""
    emotion = context.partition_key
    decodable = raw_images.filter(pl.col("error").is_null()).get_column("filepath").to_list()
    for_decodable = query(postgres, ROWS_IN_SCOPE, (emotion, decodable))[0][0]
    with postgres.connect(vector=False) as conn:
        in_folder = partition_row_count(conn, DEFAULT_TABLE, emotion, images.scope(emotion))
    return AssetCheckResult(
        passed=in_folder == for_decodable == len(decodable),
        metadata={
            "decodable_files": len(decodable),
            "rows_for_those_files": for_decodable,
            "rows_in_folder": in_folder,
        },
    )


@asset_check(asset=names.EMBEDDINGS_TABLE, blocking=True, partitions_def=EMOTION_PARTITIONS)
def filepaths_unique(context, postgres: PostgresResource) -> AssetCheckResult:
    """No file path is stored twice in the partition."""
    duplicates = query(postgres, DUPLICATE_PATHS, (context.partition_key,))
    return AssetCheckResult(passed=not duplicates, metadata={"duplicates": [f"{p} x{n}" for p, n in duplicates]})


@asset_check(asset=names.EMBEDDINGS_TABLE, blocking=True, partitions_def=EMOTION_PARTITIONS)
def vectors_valid(context, postgres: PostgresResource) -> AssetCheckResult:
    """Every vector has 512 finite values and a non-zero norm."""
    bad = query(postgres, INVALID_VECTORS, (context.partition_key, EMBEDDING_DIM))
    return AssetCheckResult(passed=not bad, metadata={"invalid_examples": [p for (p,) in bad]})
