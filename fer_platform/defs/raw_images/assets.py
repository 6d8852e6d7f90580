"""Stage 1 of the seed: the raw images, one manifest per emotion folder."""

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from fer_platform.images.decode import ImageDecodeError, decode_image
from fer_platform.images.landing import land_from_source
from fer_platform.lib import names
from fer_platform.lib.metadata import failures_table, image_grid
from fer_platform.lib.partitions import EMOTION_PARTITIONS
from fer_platform.lib.resources import ImageFolderResource, LakeResource, PostgresResource
from fer_platform.table.rows import known_filepaths
from fer_platform.table.schema import DEFAULT_TABLE

SAMPLE_FACES = 24


def sample_faces(images: ImageFolderResource, manifest: pl.DataFrame) -> MetadataValue:
    """A grid of the partition's first decodable faces, to see at a glance what the folder holds."""
    faces = []
    for path in manifest.filter(pl.col("error").is_null()).head(SAMPLE_FACES)["filepath"].to_list():
        try:
            faces.append(decode_image(images.resolve(path).read_bytes()))
        except (OSError, ImageDecodeError):  # replaced or removed since the scan: leave it out
            continue
    return image_grid(faces)


def landed_images(images: ImageFolderResource, lake: LakeResource, postgres: PostgresResource, emotion: str) -> list:
    """Images that landed only in an Azure source container, downloaded into the image root (a read of the
    table says which were deleted locally and must not come back; the table is never created here)."""
    source = lake.source()
    if source.is_local:
        return []
    scope = images.scope(emotion)
    with postgres.connect(vector=False) as conn:
        embedded = known_filepaths(conn, DEFAULT_TABLE, emotion, scope)
    return land_from_source(source, images.root, scope, lake.concurrency, embedded)


@asset(name=names.RAW_IMAGES, partitions_def=EMOTION_PARTITIONS, group_name="raw", kinds={"polars"})
def raw_images(
    context: AssetExecutionContext, images: ImageFolderResource, lake: LakeResource, postgres: PostgresResource
) -> Output[pl.DataFrame]:
    """Manifest of one emotion folder: relative file path, emotion, size, sha256, and why a file is unusable.

    Images that landed only in the Azure source container (FER_SOURCE_URL) are first
    downloaded into the image root, which stays the authority for edits and deletions.
    """
    landed = landed_images(images, lake, postgres, context.partition_key)
    if landed:
        context.log.info(f"downloaded {len(landed)} image(s) that landed in {lake.source_url}")
    manifest = images.manifest(context.partition_key)
    bad = manifest.filter(pl.col("error").is_not_null())
    for path, reason in bad.select("filepath", "error").iter_rows():
        context.log.warning(f"unusable image {path!r}: {reason}")
    return Output(
        manifest,
        metadata={
            "files": len(manifest),
            "landed_from_source": len(landed),
            "decodable": len(manifest) - len(bad),
            "failed": len(bad),
            "bytes": int(manifest.get_column("size_bytes").sum() or 0),
            "folder": MetadataValue.path(str(images.root / images.scope(context.partition_key))),
            "failed_files": failures_table(dict(bad.select("filepath", "error").iter_rows())),
            "sample_faces": sample_faces(images, manifest),
        },
    )
