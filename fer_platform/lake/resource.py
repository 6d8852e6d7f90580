"""The lake resource: where source images are uploaded and where the lakehouse lives."""

from dagster import ConfigurableResource
from pydantic import Field

from fer_platform.lake.store import Location, open_location


class LakeResource(ConfigurableResource):
    """Source container (FER_SOURCE_URL) and lake root (FER_LAKE_URL), with the seed's lake layout."""

    lake_url: str = Field(description="Lake root: folder, az://container/path or abfss://...")
    source_url: str = Field(description="Where local images are uploaded first (the seed's origen-imagenes-fer).")
    # One setting names the lake images *and* fills the Parquet filepath column, so the two
    # cannot disagree as they did in the seed (raw/imagenes/train vs raw/images/fer2013/train).
    images_prefix: str = Field(default="raw/images/fer2013", description="Lake folder of the images.")
    concurrency: int = Field(default=64, description="Concurrent object requests.")

    def image_path(self, filepath: str) -> str:
        """The lake path (relative to ``lake_url``) of an image stored as ``<split>/<emotion>/<name>``."""
        return f"{self.images_prefix}/{filepath}"

    def lake(self) -> Location:
        return open_location(self.lake_url)

    def source(self) -> Location:
        return open_location(self.source_url)
