"""Stage 3, replica: the embeddings table replicated to Azure Database for PostgreSQL."""

from dagster import AssetExecutionContext, Backoff, Jitter, MaterializeResult, RetryPolicy, asset

from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.postgres.dsn import describe
from fer_platform.replica.sync import sync_partition
from fer_platform.table.schema import DEFAULT_TABLE, ensure_table

# A server that is down, restarting or firewalled gets 1 + 2 + 4 s (+/- jitter) to come back.
REPLICA_RETRY = RetryPolicy(max_retries=3, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@asset(
    name=names.AZURE_REPLICA,
    partitions_def=EMOTION_PARTITIONS,
    deps=[names.EMBEDDINGS_TABLE],
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
        ensure_table(conn, DEFAULT_TABLE)
    with postgres.connect() as source, replica.connect() as target:
        result = sync_partition(source, target, DEFAULT_TABLE, emotion)
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
