"""The image folder resource: where ``<split>/<emotion>/`` folders are read from."""

from pathlib import Path

import polars as pl
from dagster import ConfigurableResource
from pydantic import Field

from fer_platform.raw_images.manifest import scan_emotion


class ImageFolderResource(ConfigurableResource):
    """A FER-layout folder: ``<image_root>/<split>/<emotion>/*.png`` (any format PIL reads)."""

    image_root: str = Field(description="Folder holding the split folders (FER_IMAGE_ROOT).")
    split: str = Field(default="train", description="train or test (FER_SPLIT).")

    @property
    def root(self) -> Path:
        """The image root as a path."""
        return Path(self.image_root).expanduser()

    def scope(self, emotion: str) -> str:
        """Prefix of the file paths (relative to the root) that belong to one emotion partition."""
        return f"{self.split}/{emotion}/"

    def manifest(self, emotion: str) -> pl.DataFrame:
        """The manifest of one emotion folder of the configured split."""
        return scan_emotion(self.root, self.split, emotion)

    def resolve(self, filepath: str) -> Path:
        """The local path of a manifest file path."""
        return self.root / filepath
