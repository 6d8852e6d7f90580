"""The lake stage's IO manager (``lake_io_manager``): the embeddings as one Delta Lake table at ``<lake>/<prefix>/``
partitioned by emotion (``lake.delta``). An output is an ``EmbeddingsChange`` committed as one Delta commit (a
merge of the changed rows, or the partition replaced on a first export); an input is the requested partitions
read back with ``vector`` as ``Array(Float32, 512)``. The same code serves a local folder, Azurite and ADLS Gen2.
"""

from __future__ import annotations

import polars as pl
from dagster import ConfigurableIOManager, InputContext, OutputContext

from fer_platform.lake.delta import (
    EmbeddingsChange,
    commit_bytes,
    commit_change,
    embeddings_target,
    partition_rows,
    read_partition,
)
from fer_platform.lake.layout import partition_file
from fer_platform.orchestration.resources import LakeResource
from fer_platform.table.schema import EMBEDDING_DIM


def asset_prefix(context: OutputContext | InputContext) -> str:
    """The asset's ``lake_prefix`` definition metadata, or its key path."""
    meta = context.definition_metadata or {}
    prefix = meta.get("lake_prefix")
    return str(prefix.value if hasattr(prefix, "value") else prefix) if prefix else "/".join(context.asset_key.path)


class LakeIOManager(ConfigurableIOManager):
    """Commits each partition's change to the Delta table under the asset's ``lake_prefix``."""

    lake: LakeResource

    def handle_output(self, context: OutputContext, obj: EmbeddingsChange) -> None:
        location = self.lake.lake()
        location.ensure()
        prefix = asset_prefix(context)
        target = embeddings_target(location, prefix)
        report = commit_change(target, obj)
        legacy = location.path(partition_file(prefix, obj.emotion))
        if obj.ids is None and location.fs.exists(legacy):
            location.fs.rm(legacy)  # the single Parquet file of releases before the Delta table
        context.add_output_metadata(
            {
                "lake_path": f"{self.lake.lake_url.rstrip('/')}/{prefix}",
                "delta_version": report.version if report.version is not None else -1,
                "rows_written": report.rows_written,
                "rows_deleted": report.rows_deleted,
                "files_added": report.files_added,
                "bytes_written": commit_bytes(location, prefix, report.version),
                "rows": partition_rows(target, obj.emotion),
            }
        )

    def load_input(self, context: InputContext) -> pl.DataFrame:
        target = embeddings_target(self.lake.lake(), asset_prefix(context.upstream_output or context))
        frames = [read_partition(target, key) for key in context.asset_partition_keys]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames).with_columns(pl.col("vector").cast(pl.Array(pl.Float32, EMBEDDING_DIM)))
