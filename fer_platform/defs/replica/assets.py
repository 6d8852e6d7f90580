"""Stage 3, replica: the embeddings table replicated to Azure Database for PostgreSQL."""

from dagster import AssetExecutionContext, Backoff, Jitter, MaterializeResult, RetryPolicy, asset

from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.postgres.dsn import describe
from fer_platform.replica.sync import ensure_sync_state, sync_partition
from fer_platform.table.change_log import ensure_change_log
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

    Moves the rows the source's change log names since the last sync (COPY BINARY into one replica
    transaction); the partition is compared whole only when the maintained aggregates still differ.
    """
    emotion = context.partition_key
    with replica.connect(vector=False) as conn:
        ensure_table(conn, DEFAULT_TABLE)
        with conn.transaction():
            ensure_sync_state(conn)
    with postgres.connect() as source, replica.connect() as target:
        ensure_change_log(source, DEFAULT_TABLE)
        result = sync_partition(source, target, DEFAULT_TABLE, emotion)
    context.log.info(
        f"{emotion}: {result.changed_ids} changed ids, {result.copied_rows} rows copied, "
        f"{result.removed_rows} removed{' (compared whole)' if result.compared_whole else ''}"
    )
    return MaterializeResult(
        metadata={
            "rows": result.source.rows,
            "changed_ids": result.changed_ids,
            "copied_rows": result.copied_rows,
            "removed_rows": result.removed_rows,
            "compared_whole": result.compared_whole,
            "skipped_in_sync": result.skipped,
            "checksum": result.source.checksum,
            "replica": describe(replica.conninfo()),
        }
    )
