"""Stage 4, lake: images to the source container (Blob) and the lake, embeddings to a Delta Lake table."""

import time

import polars as pl
from dagster import AssetExecutionContext, Backoff, Jitter, MaterializeResult, Output, RetryPolicy, asset

from fer_platform.lake.delta import EmbeddingsChange, applied_horizon, embeddings_target
from fer_platform.lake.export import replica_change
from fer_platform.lake.layout import EMBEDDINGS_PREFIX, image_path
from fer_platform.lake.transfer import TransferReport, sync_prefix
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, LakeResource, PostgresResource
from fer_platform.progress import Progress
from fer_platform.storage.location import open_location
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


def timed_sync(context: AssetExecutionContext, label: str, **kwargs) -> tuple[TransferReport, float]:
    """``sync_prefix`` with progress lines (count, rate, ETA) in the run's log, and its wall time."""
    start = time.perf_counter()
    progress: Progress | None = None

    def on_chunk(done: int, total: int) -> None:
        nonlocal progress
        progress = progress or Progress(label, total, context.log.info, unit="files")
        progress.advance(done - progress.done)

    report = sync_prefix(progress=on_chunk, **kwargs)
    if progress:
        progress.finish()
    return report, time.perf_counter() - start


@asset(
    name=names.SOURCE_IMAGES_BLOB,
    partitions_def=EMOTION_PARTITIONS,
    kinds={"azure", "blob"},
    retry_policy=STORAGE_RETRY,
)
def source_images_blob(
    context: AssetExecutionContext,
    raw_images: pl.DataFrame,
    images: ImagesResource,
    lake: LakeResource,
) -> MaterializeResult:
    """The emotion's decodable images uploaded to the source container (FER_SOURCE_URL), hierarchy kept.

    Only missing or changed blobs are sent (size + content MD5); blobs of deleted files are removed.
    """
    scope = images.scope(context.partition_key)
    usable = {p[len(scope) :] for p in raw_images.filter(pl.col("error").is_null())["filepath"].to_list()}
    report, seconds = timed_sync(
        context,
        f"{context.partition_key} upload",
        src=open_location(str(images.root)),
        src_prefix=scope,
        dst=images.source(),
        dst_prefix=scope,
        concurrency=lake.concurrency,
        only=usable,
    )
    return MaterializeResult(metadata=transfer_metadata(report, seconds, f"{images.source_url}/{scope}"))


@asset(
    name=names.LAKEHOUSE_IMAGES,
    partitions_def=EMOTION_PARTITIONS,
    deps=[names.SOURCE_IMAGES_BLOB],
    kinds={"azure", "adls"},
    retry_policy=STORAGE_RETRY,
)
def lakehouse_images(
    context: AssetExecutionContext, images: ImagesResource, lake: LakeResource
) -> MaterializeResult:
    """The emotion's images copied from the source container into the lake's images folder (<split>/<emotion>/ under it).

    Server-side copies when source and lake share an Azure account; incremental and mirrored.
    """
    scope = images.scope(context.partition_key)
    target = image_path(scope)
    report, seconds = timed_sync(
        context,
        f"{context.partition_key} lake copy",
        src=images.source(),
        src_prefix=scope,
        dst=lake.lake(),
        dst_prefix=target,
        concurrency=lake.concurrency,
    )
    return MaterializeResult(metadata=transfer_metadata(report, seconds, f"{lake.lake_url}/{target}"))


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
