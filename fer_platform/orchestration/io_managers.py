"""The two IO managers of the design, each used both ways.

``PgVectorIOManager`` applies a ``PartitionDelta`` to ``imagenes_fer`` in one
transaction (``COPY ... FROM STDIN (FORMAT BINARY)``) and loads the rows of the
requested emotion partitions as a polars DataFrame (the classifier's training
rows). ``LakeParquetIOManager`` writes each partition of a polars DataFrame as
zstd Parquet at ``<lake>/<prefix>/emotion=<key>/part-0.parquet`` (Hive style)
and reads the requested partitions back (the lake checks). It serves a local
folder, Azurite and ADLS Gen2 alike, through the fsspec location of ``LakeResource``.
"""

from __future__ import annotations

import io

import polars as pl
from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field

from fer_platform.lake.layout import partition_file
from fer_platform.orchestration.metadata import distribution_table
from fer_platform.orchestration.resources import LakeResource, PostgresResource
from fer_platform.table.rows import PartitionDelta, emotion_counts, partition_row_count, read_partitions, write_delta
from fer_platform.table.schema import DEFAULT_TABLE, ensure_table


class PgVectorIOManager(ConfigurableIOManager):
    """Stores embeddings in a pgvector table, one emotion partition per write."""

    postgres: PostgresResource
    table: str = Field(default=DEFAULT_TABLE, description="Embeddings table (created if missing).")

    def handle_output(self, context: OutputContext, obj: PartitionDelta) -> None:
        with self.postgres.connect(vector=False) as conn:
            ensure_table(conn, self.table)
        with self.postgres.connect() as conn:
            written = write_delta(conn, self.table, obj)
            total = partition_row_count(conn, self.table, obj.emotion)
            counts = emotion_counts(conn, self.table)
        context.add_output_metadata(
            {
                "rows_written": written,
                "partition_rows": total,
                "table_rows": sum(counts.values()),
                "emotion_distribution": distribution_table(counts),
                "table": self.table,
            }
        )

    def load_input(self, context: InputContext) -> pl.DataFrame:
        """``id, emotion, filepath, vector`` of the partitions the downstream asset asked for."""
        emotions = context.asset_partition_keys if context.has_asset_partitions else None
        with self.postgres.connect() as conn:
            ensure_table(conn, self.table)
            return read_partitions(conn, self.table, emotions)


def asset_prefix(context: OutputContext | InputContext) -> str:
    """The asset's ``lake_prefix`` definition metadata, or its key path."""
    meta = context.definition_metadata or {}
    prefix = meta.get("lake_prefix")
    return str(prefix.value if hasattr(prefix, "value") else prefix) if prefix else "/".join(context.asset_key.path)


class LakeParquetIOManager(ConfigurableIOManager):
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
