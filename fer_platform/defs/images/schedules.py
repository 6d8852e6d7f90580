"""When ``verify_images`` runs by itself: FER_VERIFY_CRON (daily at 03:00 by default), read at load."""

from dagster import DefaultScheduleStatus, Definitions, ScheduleDefinition, definitions

from fer_platform.orchestration import names
from fer_platform.orchestration.loading import loading_platform


@definitions
def images_schedules() -> Definitions:
    """The schedule of the platform being loaded (a setting, read at load, never at import)."""
    schedule = ScheduleDefinition(
        name="verify_images_schedule",
        job_name=names.VERIFY_IMAGES_JOB,
        cron_schedule=loading_platform().settings.verify_cron,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Re-reads every image and fails, naming them, on files that changed under the same stat.",
    )
    return Definitions(schedules=[schedule])
