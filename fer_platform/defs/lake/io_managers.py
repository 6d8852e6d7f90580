"""The lake stage's IO manager (``lake_io_manager``): each partition of a polars DataFrame asset as zstd Parquet at
``<lake>/<prefix>/emotion=<key>/part-0.parquet`` (Hive style, ``lake.layout``), and the requested partitions read
back (the lake checks). The same code serves a local folder, Azurite and ADLS Gen2, through the fsspec location
of ``LakeResource``.
"""

from __future__ import annotations

import io

import polars as pl
from dagster import ConfigurableIOManager, InputContext, OutputContext

from fer_platform.lake.layout import partition_file
from fer_platform.orchestration.resources import LakeResource


def asset_prefix(context: OutputContext | InputContext) -> str:
    """The asset's ``lake_prefix`` definition metadata, or its key path."""
    meta = context.definition_metadata or {}
    prefix = meta.get("lake_prefix")
    return str(prefix.value if hasattr(prefix, "value") else prefix) if prefix else "/".join(context.asset_key.path)


class LakeIOManager(ConfigurableIOManager):
    """Stores each partition of a polars DataFrame asset as one Parquet file in the lake."""

    lake: LakeResource

    def handle_output(self, context: OutputContext, obj: pl.DataFrame) -> None:
        location = self.lake.lake()
        location.ensure()
        name = partition_file(asset_prefix(context), context.asset_partition_key)
        buffer = io.BytesIO()
        obj.write_parquet(buffer, compression="zstd")
        location.write_atomic(name, buffer.getvalue())  # a killed run never leaves a truncated part-0.parquet
        context.add_output_metadata({"lake_path": f"{self.lake.lake_url.rstrip('/')}/{name}", "rows": len(obj)})

    def load_input(self, context: InputContext) -> pl.DataFrame:
        location = self.lake.lake()
        prefix = asset_prefix(context.upstream_output or context)
        frames = []
        for key in context.asset_partition_keys:
            with location.fs.open(location.path(partition_file(prefix, key)), "rb") as f:
                frames.append(pl.read_parquet(f))
        return pl.concat(frames) if frames else pl.DataFrame()
