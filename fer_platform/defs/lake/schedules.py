"""When ``lake_maintenance`` runs by itself: FER_VERIFY_CRON (daily at 03:00 by default), read at load."""

from dagster import Definitions, definitions

from fer_platform.orchestration import names
from fer_platform.orchestration.automation import verification_schedule


@definitions
def lake_schedules() -> Definitions:
    """The schedule of the platform being loaded (its cron is a setting, read at load, never at import)."""
    return Definitions(
        schedules=[
            verification_schedule(
                names.LAKE_MAINTENANCE_JOB,
                "Compacts, checkpoints and vacuums the embeddings Delta table at a quiet hour.",
            )
        ]
    )
