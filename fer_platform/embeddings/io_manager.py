"""The pgvector IO manager: partition deltas in, partition rows out.

``handle_output`` applies a ``PartitionDelta`` in one transaction with
``COPY ... FROM STDIN (FORMAT BINARY)``; ``load_input`` returns the rows of
the requested emotion partitions as a polars DataFrame.
"""

import polars as pl
from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field

from fer_platform.embeddings.store import (
    DEFAULT_TABLE,
    PartitionDelta,
    emotion_counts,
    ensure_table,
    partition_row_count,
    read_partitions,
    write_delta,
)
from fer_platform.metadata import distribution_table
from fer_platform.postgres.resource import PostgresResource


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
        emotions = context.asset_partition_keys if context.has_asset_partitions else None
        with self.postgres.connect() as conn:
            return read_partitions(conn, self.table, emotions)
