"""The lake stage's own resource: ``lake_io_manager``, on the platform's lake."""

from dagster import Definitions, definitions

from fer_platform.defs.lake.io_managers import LakeIOManager
from fer_platform.orchestration.loading import loading_platform
from fer_platform.orchestration.resources import lake_root


@definitions
def lake_resources() -> Definitions:
    """The IO manager of ``lakehouse_embeddings`` (Parquet partitions in the lake)."""
    return Definitions(resources={"lake_io_manager": LakeIOManager(lake=lake_root(loading_platform()))})
