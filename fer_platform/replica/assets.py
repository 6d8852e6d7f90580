"""Stage 2 of the seed: the embeddings table replicated to Azure Database for PostgreSQL."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Backoff,
    Jitter,
    MaterializeResult,
    PartitionsDefinition,
    RetryPolicy,
    asset,
)

from fer_platform.embeddings.store import ensure_table
from fer_platform.postgres.dsn import describe
from fer_platform.postgres.resource import PostgresResource
from fer_platform.replica.sync import sync_partition

# A server that is down, restarting or firewalled gets 1 + 2 + 4 s (+/- jitter) to come back.
REPLICA_RETRY = RetryPolicy(max_retries=3, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


def build_azure_replica(partitions: PartitionsDefinition, table: str) -> AssetsDefinition:
    """The ``azure_replica`` asset: one emotion of ``table`` kept identical on the replica server."""

    @asset(
        name="azure_replica",
        partitions_def=partitions,
        deps=["embeddings_table"],
        group_name="azure",
        kinds={"postgres", "azure"},
        retry_policy=REPLICA_RETRY,
    )
    def azure_replica(
        context: AssetExecutionContext, postgres: PostgresResource, replica: PostgresResource
    ) -> MaterializeResult:
        """imagenes_fer rows of one emotion on the Azure replica, identical to the source (ids included).

        Streams COPY BINARY from the source into COPY BINARY on the replica in one
        replica transaction; skipped when the partition's checksum already matches.
        """
        emotion = context.partition_key
        with replica.connect(vector=False) as conn:
            ensure_table(conn, table)
        with postgres.connect() as source, replica.connect() as target:
            result = sync_partition(source, target, table, emotion)
        context.log.info(f"{emotion}: {'already in sync' if result.skipped else f'copied {result.copied_rows} rows'}")
        return MaterializeResult(
            metadata={
                "rows": result.source.rows,
                "copied_rows": result.copied_rows,
                "skipped_in_sync": result.skipped,
                "checksum": result.source.checksum,
                "replica": describe(replica.conninfo()),
            }
        )

    return azure_replica
