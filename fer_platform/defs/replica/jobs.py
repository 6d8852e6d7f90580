"""The seed's one-off initial migration as a Dagster job (and ``fer-platform migrate``)."""

from dagster import Config, OpExecutionContext, job, op

from fer_platform.orchestration import names
from fer_platform.orchestration.resources import PostgresResource
from fer_platform.replica.migrate import migrate
from fer_platform.table.schema import DEFAULT_TABLE


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
