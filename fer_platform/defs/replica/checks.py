"""Blocking checks that the replica's partition equals the source's, from the aggregates both servers maintain in
the transactions that change rows: two numbers per side, whatever the partition holds (``verify_replica``
recomputes them from the rows on a schedule)."""

from dagster import AssetCheckResult, asset_check

from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.table.aggregates import PartitionAggregate, partition_aggregate
from fer_platform.table.schema import DEFAULT_TABLE


def both_sides(
    postgres: PostgresResource, replica: PostgresResource, emotion: str
) -> tuple[PartitionAggregate, PartitionAggregate]:
    """(source, replica) maintained aggregates of one partition."""
    with postgres.connect(vector=False) as s, replica.connect(vector=False) as r:
        return partition_aggregate(s, DEFAULT_TABLE, emotion), partition_aggregate(r, DEFAULT_TABLE, emotion)


def comparison(source: PartitionAggregate, replica: PartitionAggregate) -> dict:
    """The figures of both sides, as check metadata."""
    return {
        "source_rows": source.rows,
        "replica_rows": replica.rows,
        "source_checksum": source.checksum,
        "replica_checksum": replica.checksum,
    }


@asset_check(asset=names.AZURE_REPLICA, blocking=True, partitions_def=EMOTION_PARTITIONS)
def replica_rows_match_source(context, postgres: PostgresResource, replica: PostgresResource) -> AssetCheckResult:
    """Replica row count == source row count for the emotion."""
    source, target = both_sides(postgres, replica, context.partition_key)
    return AssetCheckResult(passed=source.rows == target.rows, metadata=comparison(source, target))


@asset_check(asset=names.AZURE_REPLICA, blocking=True, partitions_def=EMOTION_PARTITIONS)
def replica_content_matches_source(context, postgres: PostgresResource, replica: PostgresResource) -> AssetCheckResult:
    """Order-independent checksum over file path, emotion and vector bytes is equal on both sides."""
    source, target = both_sides(postgres, replica, context.partition_key)
    return AssetCheckResult(passed=source == target, metadata=comparison(source, target))
