"""The images stage: what landed in the source container, and one manifest per emotion folder."""

from contextlib import closing

import polars as pl
import psycopg
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, Output, asset

from fer_platform.images.decode import ImageDecodeError, decode_image
from fer_platform.images.landings.landed_paths import LandedPaths, folder_mtime, landed_in_run, record_landed
from fer_platform.images.landings.landing import land_from_events, land_from_source, record
from fer_platform.images.manifest import Describe
from fer_platform.images.scan import ManifestUpdate, ScanTally, update_landed, update_manifest
from fer_platform.images.stored_manifest import (
    FolderManifest,
    ensure_manifest_table,
    failed_files,
    read_mark,
    store_end,
    store_read,
    stored_folder,
)
from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table, image_grid
from fer_platform.orchestration.names import LANDING_RUN_TAG
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, PostgresResource, RayResource

SAMPLE_FACES = 24
FAILED_LISTED = 50  # unusable files a run's metadata names


def sample_faces(images: ImagesResource, read: ScanTally) -> MetadataValue:
    """A grid of the first decodable faces the scan read (what landed), to see at a glance what arrived."""
    faces = []
    for path in read.first_decodable:
        try:
            faces.append(decode_image(images.resolve(path).read_bytes()))
        except (OSError, ImageDecodeError):  # replaced or removed since the scan: leave it out
            continue
    return image_grid(faces)


@asset(name=names.LANDED_IMAGES, partitions_def=EMOTION_PARTITIONS, kinds={"azure", "blob"})
def landed_images(
    context: AssetExecutionContext, images: ImagesResource, postgres: PostgresResource, ray: RayResource
) -> MaterializeResult:
    """Images that landed only in the Azure source container (FER_SOURCE_URL), copied into the image root:
    where images enter the platform from outside. A run a sensor started reads the events recorded for it
    (from FER_EVENTS_QUEUE, or from the listing sensor's paged listing of the container): the container is
    never listed, so a landing of k blobs costs k reads. A run started by hand reads all unread events of the
    emotion with FER_EVENTS_QUEUE set, else lists the emotion's folder of the container. A blob deleted before
    the run reads it is in ``failed_files``. A file deleted from the image root after its upload is not brought
    back (the landing ledger on the source database remembers it); a local source folder lands nothing. With
    FER_RAY_ADDRESS set, the Ray workers copy the blobs."""
    source, scope = images.source(), images.scope(context.partition_key)
    if source.is_local:
        return MaterializeResult(metadata={"landed": 0, "source": images.source_url, "note": "a local folder"})
    run_key, before = context.run.tags.get(LANDING_RUN_TAG), folder_mtime(images.root / scope)
    with postgres.connect(vector=False) as conn:  # committed before the copy: the sensor sees it in flight
        record_landed(conn, context.run_id, scope, LandedPaths([], before))
    with postgres.connect(vector=False) as conn, images.landing(ray) as (copy, engine):
        if images.events_queue or run_key:
            landed, gone = land_from_events(conn, images.root, scope, run_key, copy)
        else:
            landed, gone = land_from_source(source, images.root, scope, conn, copy)
        if (after := folder_mtime(images.root / scope)) is not None:  # raw_images reads these only
            record_landed(conn, context.run_id, scope, LandedPaths(landed, before, after))
    if landed:
        context.log.info(f"copied {len(landed)} image(s) that landed in {images.source_url}/{scope}")
    for path in gone:
        context.log.warning(f"{path!r} was deleted from {images.source_url} before this run could read it")
    listed = MetadataValue.md("\n".join(f"- `{path}`" for path in landed[:50]) or "none")
    return MaterializeResult(
        metadata={
            "landed": len(landed),
            "source": images.source_url,
            "found_by": "events" if images.events_queue else "listing",
            "run_key": run_key or "none (started by hand)",
            "landed_files": listed,
            "failed_files": failures_table(dict.fromkeys(gone, "deleted from the source container before the run")),
            **engine,
        }
    )


def scan_metadata(folder: FolderManifest, failed: dict[str, str]) -> dict:
    """What the folder holds (maintained counts) and what the scan cost: files read against files not read."""
    return {
        "files": folder.counts.files,
        "decodable": folder.counts.decodable,
        "failed": folder.counts.files - folder.counts.decodable,
        "bytes": folder.counts.bytes,
        "files_hashed": folder.read.files,
        "bytes_read": folder.read.bytes,
        "files_unchanged": folder.counts.files - folder.read.files,
        "files_removed": len(folder.removed),
        "failed_files": failures_table(failed),
    }


def scan(
    context: AssetExecutionContext, images: ImagesResource, conn: psycopg.Connection, describe: Describe
) -> tuple[ManifestUpdate, str]:
    """(the scan's update, how it found the files): only what this run's landing wrote when the folder's mtimes
    allow (``scan.update_landed``), else a listing of the folder."""
    scope = images.scope(context.partition_key)
    landed, mark = landed_in_run(conn, context.run_id, scope), read_mark(conn, scope)
    conn.commit()  # no lock of the reads is held while the files are stat-ed or listed
    if landed is not None:
        times = (landed.mtime_before, landed.mtime_after)
        update = update_landed(conn, images.root, scope, landed.paths, times, mark, describe)
        if update is not None:
            return update, "the files this run landed"
    return update_manifest(conn, images.root, images.split, context.partition_key, describe), "a listing"


def store_scan(
    context: AssetExecutionContext, conn: psycopg.Connection, scope: str, update: ManifestUpdate
) -> ScanTally:
    """Store the scan's rows a block at a time as they are read (one commit each, with the landing ledger's
    paths), then what is gone and the folder's mark: the step holds one block, whatever the scan reads."""
    ensure_manifest_table(conn)
    conn.commit()  # the tables exist: each block below is a transaction of its own, with no schema statement
    read = ScanTally()
    with closing(update.described) as blocks:  # a failed store stops the reading (its Ray pipeline) here
        for block in blocks:
            with conn.transaction():
                store_read(conn, scope, block)
                record(conn, set(block.get_column("filepath")))  # the ledger: held by the image root
            read = read.plus(block, SAMPLE_FACES)
            for path, reason in block.filter(pl.col("error").is_not_null()).select("filepath", "error").rows():
                context.log.warning(f"unusable image {path!r}: {reason}")
    with conn.transaction():
        store_end(conn, scope, update.removed, update.mark)
    return read


@asset(
    name=names.RAW_IMAGES,
    deps=[names.LANDED_IMAGES],
    partitions_def=EMOTION_PARTITIONS,
    kinds={"polars"},
)
def raw_images(
    context: AssetExecutionContext, images: ImagesResource, postgres: PostgresResource, ray: RayResource
) -> Output[FolderManifest]:
    """Manifest of one emotion folder of the image root, stored on the source database (``fer_image_manifest``):
    relative file path, emotion, size, sha256, why a file is unusable, and its stat fingerprint. Only files that
    are new or whose size, mtime or inode changed since the stored manifest are read. After a landing in the same
    run, only the landed files are stat-ed and read (k of them, whatever the folder holds) when the folder's
    mtime says nothing else changed; otherwise the folder is listed (N ``stat`` calls, k reads). ``verify_images``
    re-reads everything on a schedule. The value handed to the later stages is the folder's counts, a tally of
    what this scan read and the paths gone (``FolderManifest``), not its N rows. With FER_RAY_ADDRESS set, the
    files are hashed and decoded by tasks on the Ray workers."""
    scope = images.scope(context.partition_key)
    with images.describing(context.partition_key, ray) as (describe, engine), postgres.connect(vector=False) as conn:
        update, found_by = scan(context, images, conn, describe)
        read = store_scan(context, conn, scope, update)
        folder, failed = stored_folder(conn, scope, read, update.removed), failed_files(conn, scope, FAILED_LISTED)
    metadata = scan_metadata(folder, failed) | {
        "folder": MetadataValue.path(str(images.root / scope)),
        "found_by": found_by,
        "sample_faces": sample_faces(images, read),
        **engine,
    }
    return Output(folder, metadata=metadata)
