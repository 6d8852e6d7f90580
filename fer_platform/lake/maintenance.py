"""Upkeep of the embeddings Delta table, run by ``lake_maintenance`` on a schedule, never by a landing.

Each landing adds one small data file per touched partition and one log entry. Compaction rewrites a
partition's small files into files of ``target_size`` bytes (a later merge that updates or deletes a row rewrites
only the file holding it, so the file size bounds what one landing rewrites, whatever the partition holds); a
checkpoint lets readers start from one Parquet file instead of replaying every JSON commit; vacuum deletes data
files no version within the retention still references (readers of older versions, time travel, keep working
for ``retention_hours``).
"""

from __future__ import annotations

from dataclasses import dataclass

from fer_platform.lake.delta import DeltaTarget

DEFAULT_TARGET_SIZE = 128 * 1024 * 1024
DEFAULT_RETENTION_HOURS = 168


@dataclass(frozen=True)
class MaintenanceReport:
    """What one pass did."""

    files_removed: int
    files_added: int
    vacuumed: int
    version: int | None


def maintain(
    target: DeltaTarget, target_size: int = DEFAULT_TARGET_SIZE, retention_hours: int = DEFAULT_RETENTION_HOURS
) -> MaintenanceReport:
    """Compact every partition, write a checkpoint, vacuum beyond the retention; nothing on a missing table."""
    table = target.open()
    if table is None:
        return MaintenanceReport(0, 0, 0, None)
    metrics = table.optimize.compact(target_size=target_size)
    table.create_checkpoint()
    removed = table.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False)
    table.cleanup_metadata()
    return MaintenanceReport(
        int(metrics.get("numFilesRemoved", 0)), int(metrics.get("numFilesAdded", 0)), len(removed), table.version()
    )
