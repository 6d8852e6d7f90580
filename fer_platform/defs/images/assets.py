"""The images stage: what landed in the source container, and one manifest per emotion folder."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, Output, asset

from fer_platform.images.decode import ImageDecodeError, decode_image
from fer_platform.images.landings.landing import land_from_events, land_from_source, record
from fer_platform.images.manifest import ManifestUpdate, update_manifest
from fer_platform.images.stored_manifest import read_manifest, store_update
from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table, image_grid
from fer_platform.orchestration.names import LANDING_RUN_TAG
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, PostgresResource, RayResource

SAMPLE_FACES = 24


def sample_faces(images: ImagesResource, manifest: pl.DataFrame) -> MetadataValue:
    """A grid of the partition's first decodable faces, to see at a glance what the folder holds."""
    faces = []
    for path in manifest.filter(pl.col("error").is_null()).head(SAMPLE_FACES)["filepath"].to_list():
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
    run_key = context.run.tags.get(LANDING_RUN_TAG)
    with postgres.connect(vector=False) as conn, images.landing(ray) as (copy, engine):
        if images.events_queue or run_key:
            landed, gone = land_from_events(conn, images.root, scope, run_key, copy)
        else:
            landed, gone = land_from_source(source, images.root, scope, conn, copy)
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


def scan_metadata(update: ManifestUpdate) -> dict:
    """What the scan found and what it cost: files read (hashed and decoded) against files only stat-ed."""
    manifest, described = update.manifest, update.described
    bad = manifest.filter(pl.col("error").is_not_null())
    return {
        "files": len(manifest),
        "decodable": len(manifest) - len(bad),
        "failed": len(bad),
        "bytes": int(manifest.get_column("size_bytes").sum() or 0),
        "files_hashed": len(described),
        "bytes_read": int(described.get_column("size_bytes").sum() or 0),
        "files_unchanged": len(manifest) - len(described),
        "files_removed": len(update.removed),
        "failed_files": failures_table(dict(bad.select("filepath", "error").iter_rows())),
    }


@asset(
    name=names.RAW_IMAGES,
    deps=[names.LANDED_IMAGES],
    partitions_def=EMOTION_PARTITIONS,
    kinds={"polars"},
)
def raw_images(
    context: AssetExecutionContext, images: ImagesResource, postgres: PostgresResource, ray: RayResource
) -> Output[pl.DataFrame]:
    """Manifest of one emotion folder of the image root: relative file path, emotion, size, sha256, why a file is
    unusable, and its stat fingerprint. Only files that are new or whose size, mtime or inode changed since the
    manifest stored on the source database (``fer_image_manifest``) are read; the others are only stat-ed, so a
    landing of k files into a folder of N reads k files (``verify_images`` re-reads them all on a schedule). The
    image root is the authority; what landed in the source container is already in it. With FER_RAY_ADDRESS set,
    the files are hashed and decoded by tasks on the Ray workers."""
    scope = images.scope(context.partition_key)
    with postgres.connect(vector=False) as conn:
        previous = read_manifest(conn, scope)
    with images.describing(context.partition_key, ray) as (describe, engine):
        update = update_manifest(images.root, images.split, context.partition_key, previous, describe)
    with postgres.connect(vector=False) as conn, conn.transaction():
        store_update(conn, scope, update)
        record(conn, set(update.described.get_column("filepath")))  # the ledger: held by the image root
    for path, reason in update.described.filter(pl.col("error").is_not_null()).select("filepath", "error").rows():
        context.log.warning(f"unusable image {path!r}: {reason}")
    metadata = scan_metadata(update) | {
        "folder": MetadataValue.path(str(images.root / scope)),
        "sample_faces": sample_faces(images, update.manifest),
        **engine,
    }
    return Output(update.manifest, metadata=metadata)
