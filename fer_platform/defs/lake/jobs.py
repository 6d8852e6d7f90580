"""``lake_maintenance``: compaction, checkpoint and vacuum of the embeddings Delta table, never done by a landing."""

from dagster import OpExecutionContext, job, op

from fer_platform.lake.delta import embeddings_target
from fer_platform.lake.maintenance import maintain
from fer_platform.orchestration import names
from fer_platform.orchestration.resources import LakeResource


@op(name="compact_and_vacuum_embeddings")
def compact_and_vacuum_embeddings(context: OpExecutionContext, lake: LakeResource) -> None:
    """Compact each partition's small files, write a checkpoint, vacuum files older than the retention."""
    report = maintain(embeddings_target(lake.lake()))
    context.log.info(
        f"compacted {report.files_removed} file(s) into {report.files_added}, vacuumed {report.vacuumed}, "
        f"table version {report.version}"
    )
    context.add_output_metadata(
        {
            "files_removed": report.files_removed,
            "files_added": report.files_added,
            "vacuumed": report.vacuumed,
            "delta_version": report.version if report.version is not None else -1,
        }
    )


@job(name=names.LAKE_MAINTENANCE_JOB, description="Compact, checkpoint and vacuum the embeddings Delta table.")
def lake_maintenance() -> None:
    compact_and_vacuum_embeddings()
