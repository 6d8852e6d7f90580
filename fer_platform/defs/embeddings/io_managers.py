"""The embeddings stage's IO manager (``pgvector_io_manager``): ``embeddings_table``'s output is a plan staged on
the server (``table.planned.PlannedDelta``) applied to ``imagenes_fer`` in one transaction (its rows' vectors taken
from the vector store by the server, ``INSERT ... SELECT``, so the step never holds them); a downstream asset's
input is the rows of the emotion partitions it asks for, as a polars DataFrame (the classifier's training rows).
"""

from __future__ import annotations

from contextlib import suppress

import polars as pl
import psycopg
from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field

from fer_platform.images.manifest_log import advance
from fer_platform.orchestration.metadata import distribution_table
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.table.aggregates import stored
from fer_platform.table.planned import PlannedDelta, drop_plan, write_planned
from fer_platform.table.rows import read_partitions
from fer_platform.table.schema import DEFAULT_TABLE, ensure_table


class PgVectorIOManager(ConfigurableIOManager):
    """Stores embeddings in a pgvector table, one emotion partition per write."""

    postgres: PostgresResource
    table: str = Field(default=DEFAULT_TABLE, description="Embeddings table (created if missing).")

    def handle_output(self, context: OutputContext, obj: PlannedDelta) -> None:
        with self.postgres.connect(vector=False) as conn:
            ensure_table(conn, self.table)
        with self.postgres.connect() as conn:
            try:
                with conn.transaction():
                    written = write_planned(conn, self.table, obj)
                    if obj.covers is not None:  # the log the plan accounts for: recorded with the rows, or neither
                        scope, horizon, whole = obj.covers
                        advance(conn, context.asset_key.to_user_string(), scope, horizon, whole, tag=obj.model_id)
            except Exception:
                with suppress(psycopg.Error):  # rolled back: no write will apply it (a retry stages its own)
                    drop_plan(conn, obj.plan)
                raise
            counts = {emotion: figures.rows for emotion, figures in stored(conn, self.table).items()}
            total = counts.get(obj.emotion, 0)
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
