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

from fer_platform.metadata import failures_table
from fer_platform.raw_images.resource import ImageFolderResource


def build_raw_images(partitions: PartitionsDefinition) -> AssetsDefinition:
    """The ``raw_images`` asset over the given emotion partitions."""

    @asset(
        name="raw_images",
        partitions_def=partitions,
        group_name="raw",
        kinds={"polars"},
    )
    def raw_images(context: AssetExecutionContext, images: ImageFolderResource) -> Output[pl.DataFrame]:
        """Manifest of one emotion folder: relative file path, emotion, size, sha256, and why a file is unusable."""
        manifest = images.manifest(context.partition_key)
        bad = manifest.filter(pl.col("error").is_not_null())
        for path, reason in bad.select("filepath", "error").iter_rows():
            context.log.warning(f"unusable image {path!r}: {reason}")
        return Output(
            manifest,
            metadata={
                "files": len(manifest),
                "decodable": len(manifest) - len(bad),
                "failed": len(bad),
                "bytes": int(manifest.get_column("size_bytes").sum() or 0),
                "folder": MetadataValue.path(str(images.root / images.scope(context.partition_key))),
                "failed_files": failures_table(dict(bad.select("filepath", "error").iter_rows())),
            },
        )

    return raw_images
