"""Stage 1 of the seed: the raw images, one manifest per emotion folder."""

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from fer_platform.embeddings.assets import stored_rows
from fer_platform.lake.resource import LakeResource
from fer_platform.lake.store import open_location
from fer_platform.lake.transfer import fetch_missing
from fer_platform.metadata import failures_table, image_grid
from fer_platform.raw_images.decode import ImageDecodeError, decode_image
from fer_platform.postgres.resource import PostgresResource
from fer_platform.raw_images.resource import ImageFolderResource


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


def land_from_source(
    images: ImageFolderResource, lake: LakeResource, postgres: PostgresResource, table: str, emotion: str
) -> list[str]:
    """Images dropped into the Azure source container but absent from the image root, downloaded into it.

    A blob whose file is already in the embeddings table was uploaded from the image root
    and has since been deleted there: it is not brought back (the upload stage removes it).
    Nothing happens for a local source folder: it is only ever written from the image root.
    """
    source = lake.source()
    if source.is_local:
        return []
    scope = images.scope(emotion)
    known = frozenset(stored_rows(postgres, table, emotion, scope)["filepath"].to_list())
    return fetch_missing(source, open_location(str(images.root)), scope, lake.concurrency, skip=known)


def build_raw_images(partitions: PartitionsDefinition, table: str) -> AssetsDefinition:
    """The ``raw_images`` asset over the given emotion partitions (``table``: where embedded files are known)."""

    @asset(
        name="raw_images",
        partitions_def=partitions,
        group_name="raw",
        kinds={"polars"},
    )
    def raw_images(
        context: AssetExecutionContext, images: ImageFolderResource, lake: LakeResource, postgres: PostgresResource
    ) -> Output[pl.DataFrame]:
        """Manifest of one emotion folder: relative file path, emotion, size, sha256, and why a file is unusable.

        Images that landed only in the Azure source container (FER_SOURCE_URL) are first
        downloaded into the image root, which stays the authority for edits and deletions.
        """
        landed = land_from_source(images, lake, postgres, table, context.partition_key)
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

    return raw_images
