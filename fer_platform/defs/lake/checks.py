"""Blocking lakehouse checks: counts (from maintained figures on both sides), and path integrity both ways."""

from collections import Counter

from dagster import AssetCheckResult, AssetIn, asset_check

from fer_platform.images.manifest_log import last_run_changes
from fer_platform.images.stored_manifest import FolderManifest
from fer_platform.lake.delta import embeddings_target, partition_rows, read_partition
from fer_platform.lake.layout import image_path, is_image_path
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, LakeResource, PostgresResource
from fer_platform.table.aggregates import partition_aggregate
from fer_platform.table.schema import DEFAULT_TABLE

MAX_EXAMPLES = 20


def lake_images(lake: LakeResource, images: ImagesResource, emotion: str) -> set[str]:
    """Lake object names (relative to the lake root) of one emotion's images (a listing of names: nothing read)."""
    prefix = image_path(images.scope(emotion))
    return lake.lake().names(prefix)


def mirrored_last(postgres: PostgresResource, images: ImagesResource, emotion: str) -> dict[str, bool] | None:
    """Lake image path -> usable, for the files the last ``lakehouse_images`` run mirrored by the manifest's
    delta; None after a whole sync (the checks then list the folder)."""
    scope = images.scope(emotion)
    with postgres.connect(vector=False) as conn:
        changes = last_run_changes(conn, names.LAKEHOUSE_IMAGES, scope)
    return None if changes is None else {image_path(scope) + p[len(scope) :]: ok for p, ok in changes.items()}


def present(lake: LakeResource, paths: list[str]) -> set[str]:
    """Which of the lake ``paths`` exist (one request each: what a landing of k images costs)."""
    location = lake.lake()
    return {p for p in paths if location.fs.exists(location.path(p))}


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
    context, lake: LakeResource, images: ImagesResource, postgres: PostgresResource, raw_images: FolderManifest
) -> AssetCheckResult:
    """Images in the lake for the emotion == decodable raw images: after a landing, each image the run mirrored
    is there (or gone, with its file); after a whole sync, the folder's listing counts them."""
    expected = raw_images.counts.decodable
    changes = mirrored_last(postgres, images, context.partition_key)
    if changes is None:
        found = len(lake_images(lake, images, context.partition_key))
        return AssetCheckResult(passed=found == expected, metadata={"raw_images": expected, "lake_images": found})
    there = present(lake, sorted(changes))
    wrong = sorted(p for p, usable in changes.items() if (p in there) != usable)
    return AssetCheckResult(
        passed=not wrong,
        metadata={"raw_images": expected, "images_checked": len(changes), "examples": wrong[:MAX_EXAMPLES]},
    )


@asset_check(asset=names.LAKEHOUSE_EMBEDDINGS, blocking=True, partitions_def=EMOTION_PARTITIONS)
def parquet_rows_match_replica(context, replica: PostgresResource, lake: LakeResource) -> AssetCheckResult:
    """Rows of the emotion in the Delta table (its log's file statistics) == the replica's maintained row count:
    no data file and no replica row is read."""
    with replica.connect(vector=False) as conn:
        expected = partition_aggregate(conn, DEFAULT_TABLE, context.partition_key).rows
    found = partition_rows(embeddings_target(lake.lake()), context.partition_key)
    return AssetCheckResult(passed=found == expected, metadata={"replica_rows": expected, "parquet_rows": found})


@asset_check(asset=names.LAKEHOUSE_EMBEDDINGS, blocking=True, partitions_def=EMOTION_PARTITIONS)
def lake_paths_integrity(
    context, lake: LakeResource, images: ImagesResource, postgres: PostgresResource
) -> AssetCheckResult:
    """Every filepath of the partition resolves to a lake image, and every lake image has exactly one row. Reads
    the partition's filepath column; lists its image folder after a whole sync, and after a landing only asks
    for the images that landing mirrored (rows of those paths must match them one to one)."""
    scope = image_path(images.scope(context.partition_key))
    rows = read_partition(embeddings_target(lake.lake()), context.partition_key, columns=["filepath"])
    paths = rows["filepath"].to_list() if len(rows) else []
    in_scope = [p for p in paths if not is_image_path(p) or p.startswith(scope)]
    changes = mirrored_last(postgres, images, context.partition_key)
    if changes is None:
        return integrity_result(in_scope, lake_images(lake, images, context.partition_key))
    landed = present(lake, sorted(changes))
    return integrity_result([p for p in in_scope if p in changes], landed)
