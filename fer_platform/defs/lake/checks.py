"""Blocking lakehouse checks: counts (from maintained figures on both sides), and path integrity both ways."""

from collections import Counter

import polars as pl
from dagster import AssetCheckResult, AssetIn, asset_check

from fer_platform.lake.delta import embeddings_target, partition_rows, read_partition
from fer_platform.lake.layout import image_path, is_image_path
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, LakeResource, PostgresResource
from fer_platform.table.aggregates import partition_aggregate
from fer_platform.table.schema import DEFAULT_TABLE

MAX_EXAMPLES = 20


def lake_images(lake: LakeResource, images: ImagesResource, emotion: str) -> set[str]:
    """Lake object names (relative to the lake root) of one emotion's images."""
    prefix = image_path(images.scope(emotion))
    return set(lake.lake().listing(prefix))


def integrity_result(parquet_paths: list[str], in_lake: set[str]) -> AssetCheckResult:
    """Every Parquet filepath is a lake object, and every lake image has exactly one row."""
    counts = Counter(parquet_paths)
    dangling = sorted(set(counts) - in_lake)
    unmatched = sorted(p for p in in_lake if counts.get(p, 0) != 1)
    return AssetCheckResult(
        passed=not dangling and not unmatched,
        metadata={
            "parquet_rows": len(parquet_paths),
            "lake_images": len(in_lake),
            "paths_not_in_lake": len(dangling),
            "lake_images_without_exactly_one_row": len(unmatched),
            "examples": (dangling + unmatched)[:MAX_EXAMPLES],
        },
    )


@asset_check(
    asset=names.LAKEHOUSE_IMAGES,
    blocking=True,
    partitions_def=EMOTION_PARTITIONS,
    additional_ins={"raw_images": AssetIn(names.RAW_IMAGES)},
)
def lake_image_count_matches_raw(
    context, lake: LakeResource, images: ImagesResource, raw_images: pl.DataFrame
) -> AssetCheckResult:
    """Images in the lake for the emotion == decodable raw images."""
    expected = raw_images.filter(pl.col("error").is_null()).height
    found = len(lake_images(lake, images, context.partition_key))
    return AssetCheckResult(passed=found == expected, metadata={"raw_images": expected, "lake_images": found})


@asset_check(asset=names.LAKEHOUSE_EMBEDDINGS, blocking=True, partitions_def=EMOTION_PARTITIONS)
def parquet_rows_match_replica(context, replica: PostgresResource, lake: LakeResource) -> AssetCheckResult:
    """Rows of the emotion in the Delta table (its log's file statistics) == the replica's maintained row count:
    no data file and no replica row is read."""
    with replica.connect(vector=False) as conn:
        expected = partition_aggregate(conn, DEFAULT_TABLE, context.partition_key).rows
    found = partition_rows(embeddings_target(lake.lake()), context.partition_key)
    return AssetCheckResult(passed=found == expected, metadata={"replica_rows": expected, "parquet_rows": found})


@asset_check(asset=names.LAKEHOUSE_EMBEDDINGS, blocking=True, partitions_def=EMOTION_PARTITIONS)
def lake_paths_integrity(context, lake: LakeResource, images: ImagesResource) -> AssetCheckResult:
    """Every filepath of the partition resolves to a lake image, and every lake image has exactly one row (reads
    the partition's filepath column and lists its image folder)."""
    scope = image_path(images.scope(context.partition_key))
    rows = read_partition(embeddings_target(lake.lake()), context.partition_key, columns=["filepath"])
    paths = rows["filepath"].to_list() if len(rows) else []
    in_scope = [p for p in paths if not is_image_path(p) or p.startswith(scope)]
    return integrity_result(in_scope, lake_images(lake, images, context.partition_key))
