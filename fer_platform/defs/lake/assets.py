"""Stage 4, lake: images to the source container (Blob) and the lake, embeddings to a Delta Lake table."""

import time
from collections.abc import Callable

import polars as pl
from dagster import AssetExecutionContext, Backoff, Jitter, MaterializeResult, Output, RetryPolicy, asset

from fer_platform.images.stored_manifest import read_manifest
from fer_platform.lake.delta import EmbeddingsChange, applied_horizon, embeddings_target
from fer_platform.lake.export import replica_change
from fer_platform.lake.layout import EMBEDDINGS_PREFIX, image_path
from fer_platform.lake.mirror import apply_changes, mirror
from fer_platform.lake.transfer import TransferReport, sync_prefix
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, LakeResource, PostgresResource
from fer_platform.progress import Progress
from fer_platform.storage.location import Location, open_location
from fer_platform.table.schema import DEFAULT_TABLE

# Storage that is down or throttling gets 2 + 4 + 8 s (+/- jitter); a re-run sends only what is missing.
STORAGE_RETRY = RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


def transfer_metadata(report: TransferReport, seconds: float, target: str) -> dict:
    return {
        "sent": len(report.sent),
        "deleted": len(report.deleted),
        "unchanged": report.unchanged,
        "bytes_sent": report.bytes_sent,
        "files_per_s": round(len(report.sent) / seconds, 1) if seconds > 0 else 0.0,
        "target": target,
    }


def progress_reporter(context: AssetExecutionContext, label: str) -> tuple[Callable[[int, int], None], Callable]:
    """A transfer's progress callback (count, rate, ETA in the run's log), and what ends its line."""
    progress: Progress | None = None

    def on_chunk(done: int, total: int) -> None:
        nonlocal progress
        progress = progress or Progress(label, total, context.log.info, unit="files")
        progress.advance(done - progress.done)

    return on_chunk, lambda: progress.finish() if progress else None


def mirrored(
    context: AssetExecutionContext, postgres: PostgresResource, lake: LakeResource, label: str, scope: str,
    src: Location, dst: Location, dst_prefix: str, only: Callable[[], set[str]] | None = None,
) -> dict:
    """Mirror the folder ``scope`` of ``src`` under ``dst_prefix`` of ``dst`` by the manifest's delta (a whole
    listing sync the first time, restricted to ``only()``); the transfer's metadata."""
    start, (on_chunk, finish) = time.perf_counter(), progress_reporter(context, label)

    def whole() -> TransferReport:
        return sync_prefix(
            src=src, src_prefix=scope, dst=dst, dst_prefix=dst_prefix, concurrency=lake.concurrency,
            progress=on_chunk, only=only() if only else None,
        )

    def delta(changes: dict[str, bool]) -> TransferReport:
        dst.ensure()
        rename = lambda path: dst_prefix + path[len(scope) :]  # noqa: E731
        return apply_changes(src, dst, rename, changes, lake.concurrency, on_chunk)

    with postgres.connect(vector=False) as conn:
        report, mode = mirror(conn, context.asset_key.to_user_string(), scope, whole, delta)
    finish()
    return transfer_metadata(report, time.perf_counter() - start, f"{dst.url}/{dst_prefix}") | {"mode": mode}


@asset(
    name=names.SOURCE_IMAGES_BLOB,
    deps=[names.RAW_IMAGES],
    partitions_def=EMOTION_PARTITIONS,
    kinds={"azure", "blob"},
    retry_policy=STORAGE_RETRY,
)
def source_images_blob(
    context: AssetExecutionContext, images: ImagesResource, lake: LakeResource, postgres: PostgresResource
) -> MaterializeResult:
    """The emotion's decodable images uploaded to the source container (FER_SOURCE_URL), hierarchy kept.

    What the manifest logged since the last upload is sent, and blobs of files gone or undecodable are removed:
    a landing of k images uploads k, whatever the folder holds (``lake.mirror``). The first upload of a folder
    compares both sides by listing (size + content MD5)."""
    scope = images.scope(context.partition_key)

    def usable() -> set[str]:
        with postgres.connect(vector=False) as conn:
            manifest = read_manifest(conn, scope).filter(pl.col("error").is_null())
        return {path[len(scope) :] for path in manifest["filepath"].to_list()}

    root = open_location(str(images.root))
    metadata = mirrored(context, postgres, lake, f"{context.partition_key} upload", scope, root, images.source(),
                        scope, usable)
    return MaterializeResult(metadata=metadata)


@asset(
    name=names.LAKEHOUSE_IMAGES,
    partitions_def=EMOTION_PARTITIONS,
    deps=[names.SOURCE_IMAGES_BLOB],
    kinds={"azure", "adls"},
    retry_policy=STORAGE_RETRY,
)
def lakehouse_images(
    context: AssetExecutionContext, images: ImagesResource, lake: LakeResource, postgres: PostgresResource
) -> MaterializeResult:
    """The emotion's images copied from the source container into the lake's images folder (<split>/<emotion>/
    under it): what the manifest logged since the last copy (server-side copies when source and lake share an
    Azure account); the first copy of a folder mirrors it by listing."""
    scope = images.scope(context.partition_key)
    metadata = mirrored(context, postgres, lake, f"{context.partition_key} lake copy", scope, images.source(),
                        lake.lake(), image_path(scope))
    return MaterializeResult(metadata=metadata)


@asset(
    name=names.LAKEHOUSE_EMBEDDINGS,
    partitions_def=EMOTION_PARTITIONS,
    deps=[names.AZURE_REPLICA, names.LAKEHOUSE_IMAGES],
    kinds={"delta", "parquet", "adls"},
    io_manager_key="lake_io_manager",
    metadata={"lake_prefix": EMBEDDINGS_PREFIX},
    retry_policy=STORAGE_RETRY,
)
def lakehouse_embeddings(
    context: AssetExecutionContext, replica: PostgresResource, lake: LakeResource
) -> Output[EmbeddingsChange]:
    """The replica's rows of the emotion in the Delta table raw/embeddings/fer2013/ (partition emotion=<e>/).

    Only the rows the replica's change log names since the horizon the table committed are read and merged
    (one commit, horizon included); the first export replaces the partition. filepath is the image's path in
    the lake (relative to FER_LAKE_URL), built by the same function that names the images in lakehouse_images.
    """
    start = time.perf_counter()
    emotion = context.partition_key
    location = lake.lake()
    location.ensure()
    applied = applied_horizon(embeddings_target(location), emotion)
    with replica.connect(vector=False) as conn:
        change = replica_change(conn, DEFAULT_TABLE, emotion, applied)
    whole = change.ids is None
    context.log.info(f"{emotion}: {len(change.rows)} row(s) read, {'whole partition' if whole else 'by delta'}")
    return Output(
        change,
        metadata={
            "rows_read": len(change.rows),
            "changed_ids": -1 if whole else len(change.ids or ()),
            "whole_partition": whole,
            "export_s": round(time.perf_counter() - start, 3),
        },
    )
