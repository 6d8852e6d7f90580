"""The ADLS IO manager: polars DataFrames as zstd Parquet at partition-aware lake paths.

Layout: ``<lake>/<prefix>/emotion=<key>/part-0.parquet`` (Hive style, so any
Parquet reader sees the partitions), where ``<prefix>`` is the asset's
``lake_prefix`` definition metadata or its key path. The same code serves a
local folder, Azurite and ADLS Gen2, because ``LakeResource`` hands it an
fsspec location for any of them.
"""

import polars as pl
from dagster import ConfigurableIOManager, InputContext, OutputContext

from fer_platform.lake.resource import LakeResource

PARTITION_COLUMN = "emotion"


def asset_prefix(context: OutputContext | InputContext) -> str:
    meta = context.definition_metadata or {}
    prefix = meta.get("lake_prefix")
    return str(prefix.value if hasattr(prefix, "value") else prefix) if prefix else "/".join(context.asset_key.path)


class LakeParquetIOManager(ConfigurableIOManager):
    """Stores each partition of a polars DataFrame asset as one Parquet file in the lake."""

    lake: LakeResource

    def partition_path(self, prefix: str, key: str) -> str:
        return f"{prefix}/{PARTITION_COLUMN}={key}/part-0.parquet"

    def handle_output(self, context: OutputContext, obj: pl.DataFrame) -> None:
        location = self.lake.lake()
        location.ensure()
        name = self.partition_path(asset_prefix(context), context.asset_partition_key)
        with location.fs.open(location.path(name), "wb") as f:
            obj.write_parquet(f, compression="zstd")
        context.add_output_metadata({"lake_path": f"{self.lake.lake_url.rstrip('/')}/{name}", "rows": len(obj)})

    def load_input(self, context: InputContext) -> pl.DataFrame:
        location = self.lake.lake()
        prefix = asset_prefix(context.upstream_output or context)
        frames = []
        for key in context.asset_partition_keys:
            with location.fs.open(location.path(self.partition_path(prefix, key)), "rb") as f:
                frames.append(pl.read_parquet(f))
        return pl.concat(frames) if frames else pl.DataFrame()
