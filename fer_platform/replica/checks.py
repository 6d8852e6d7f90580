"""Blocking checks that the replica's partition equals the source's."""

from dagster import AssetCheckResult, AssetChecksDefinition, PartitionsDefinition, asset_check

from fer_platform.postgres.resource import PostgresResource
from fer_platform.replica.sync import PartitionChecksum, partition_checksum


def both_sides(postgres: PostgresResource, replica: PostgresResource, table: str, emotion: str):
    """(source, replica) checksums of one partition."""
    with postgres.connect(vector=False) as s, replica.connect(vector=False) as r:
        return partition_checksum(s, table, emotion), partition_checksum(r, table, emotion)


def comparison(source: PartitionChecksum, replica: PartitionChecksum) -> dict:
    return {
        "source_rows": source.rows,
        "replica_rows": replica.rows,
        "source_checksum": source.checksum,
        "replica_checksum": replica.checksum,
    }


def build_replica_checks(partitions: PartitionsDefinition, table: str) -> list[AssetChecksDefinition]:
    """Row count and content checksum, per partition."""

    @asset_check(asset="azure_replica", blocking=True, partitions_def=partitions)
    def replica_rows_match_source(context, postgres: PostgresResource, replica: PostgresResource) -> AssetCheckResult:
        """Replica row count == source row count for the emotion."""
        source, target = both_sides(postgres, replica, table, context.partition_key)
        return AssetCheckResult(passed=source.rows == target.rows, metadata=comparison(source, target))

    @asset_check(asset="azure_replica", blocking=True, partitions_def=partitions)
    def replica_content_matches_source(
        context, postgres: PostgresResource, replica: PostgresResource
    ) -> AssetCheckResult:
        """Order-independent checksum over file path, emotion and vector bytes is equal on both sides."""
        source, target = both_sides(postgres, replica, table, context.partition_key)
        return AssetCheckResult(passed=source == target, metadata=comparison(source, target))

    return [replica_rows_match_source, replica_content_matches_source]
