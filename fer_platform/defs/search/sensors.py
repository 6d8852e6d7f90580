"""The automation that keeps what search serves (the index, the expression vectors) up to date after replica
changes and emotion_model promotions."""

from dagster import AutomationConditionSensorDefinition, DefaultSensorStatus, Definitions, definitions

from fer_platform.orchestration import names
from fer_platform.orchestration.loading import loading_platform


def search_index_automation(interval_s: int) -> AutomationConditionSensorDefinition:
    """The automation sensor, evaluating every ``interval_s`` seconds the conditions of the served assets
    (orchestration/automation.py): the one sensor that keeps what search serves current. expression_vectors
    lives in defs/models; it is named here by key."""
    return AutomationConditionSensorDefinition(
        "search_index_automation",
        target=[names.VECTOR_INDEX, names.EXPRESSION_VECTORS],
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_s,
        emit_backfills=False,  # a run per emotion, as new_images_sensor starts them (the run queue limits them)
        description=(
            "Keeps what search serves current: vector_index and expression_vectors after the replica's checked "
            "changes (the changed emotions only), expression_vectors after a new emotion_model, both once a day."
        ),
    )


@definitions
def search_sensors() -> Definitions:
    """The sensor at FER_SENSOR_INTERVAL_S of the platform being loaded (a setting, read at load, never at import)."""
    return Definitions(sensors=[search_index_automation(loading_platform().settings.sensor_interval_s)])
