"""When ``verify_replica`` runs by itself: FER_VERIFY_CRON (daily at 03:00 by default), read at load."""

from dagster import Definitions, definitions

from fer_platform.orchestration import names
from fer_platform.orchestration.automation import verification_schedule


@definitions
def replica_schedules() -> Definitions:
    """The schedule of the platform being loaded (its cron is a setting, read at load, never at import)."""
    return Definitions(
        schedules=[
            verification_schedule(
                names.VERIFY_REPLICA_JOB,
                "Recomputes the aggregates the replica checks compare, from the rows, on both servers.",
            )
        ]
    )
