"""The seed's one-off initial migration as a Dagster job (and ``fer-platform migrate``), and ``verify_replica``,
the scheduled recomputation of what the blocking checks compare."""

from dagster import Config, Failure, OpExecutionContext, job, op

from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.replica.migrate import migrate
from fer_platform.replica.verification import invalid_rows, server_differences, stale_figures
from fer_platform.table.schema import DEFAULT_TABLE, ensure_table


class MigrationConfig(Config):
    """Which table to migrate and how many parallel pg_dump/pg_restore jobs to use (0 = CPU count)."""

    table: str = DEFAULT_TABLE
    jobs: int = 0


@op
def pg_dump_restore(
    context: OpExecutionContext,
    config: MigrationConfig,
    postgres: PostgresResource,
    replica: PostgresResource,
) -> None:
    """pg_dump the source table and pg_restore it into the replica, with the real client tools."""
    result = migrate(postgres.conninfo(), replica.conninfo(), config.table, config.jobs or None)
    context.log.info(
        f"migrated {result.rows} rows: dump {result.dump_s:.1f} s ({result.dump_bytes / 1e6:.1f} MB), "
        f"restore {result.restore_s:.1f} s"
    )


@job(
    name=names.MIGRATION_JOB,
    description="Initial migration of imagenes_fer to the Azure replica with pg_dump / pg_restore.",
)
def initial_migration() -> None:
    pg_dump_restore()


@op(name="verify_replica_aggregates")
def verify_replica_aggregates(
    context: OpExecutionContext, postgres: PostgresResource, replica: PostgresResource
) -> None:
    """Recompute every partition's aggregates from the rows on both servers; fail naming what differs."""
    with postgres.connect(vector=False) as source, replica.connect(vector=False) as target:
        ensure_table(target, DEFAULT_TABLE)
        stale = stale_figures(source, DEFAULT_TABLE, "source") | stale_figures(target, DEFAULT_TABLE, "replica")
        apart = server_differences(source, target, DEFAULT_TABLE)
        invalid = invalid_rows(source, DEFAULT_TABLE)
    metadata = {"stale_figures": len(stale), "partitions_differing": len(apart), "invalid_vectors": len(invalid)}
    context.log.info(
        f"{len(stale)} stale figure(s), {len(apart)} partition(s) differing between the servers, "
        f"{len(invalid)} invalid vector(s) on the source"
    )
    if stale or apart or invalid:
        named = stale | {f"differs:{e}": what for e, what in apart.items()} | invalid
        raise Failure(
            description=f"replica verification failed for {', '.join(sorted(named)[:20])}; stale figures were "
            f"recomputed, re-run {names.SYNC_JOB} for the emotions named (for invalid vectors: delete the rows, "
            f"the next run of the emotion embeds their files again)",
            metadata=metadata | {"differences": failures_table(named, "partition")},
        )
    context.add_output_metadata(metadata)


@job(
    name=names.VERIFY_REPLICA_JOB,
    description="Recompute the per-partition aggregates from the rows on both servers and compare them; "
    "look for invalid vectors among all source rows.",
)
def verify_replica() -> None:
    verify_replica_aggregates()
