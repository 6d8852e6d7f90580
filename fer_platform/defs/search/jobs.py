"""Building the index by hand, and the automation that keeps what search serves (the index, the expression
vectors) up to date after replica changes and emotion_model promotions."""

from dagster import AutomationConditionSensorDefinition, DefaultSensorStatus, define_asset_job

from fer_platform.orchestration import names

build_search_index = define_asset_job(
    names.INDEX_JOB, selection=[names.VECTOR_INDEX], description="Create or rebuild the HNSW index."
)


def search_index_automation(interval_s: int) -> AutomationConditionSensorDefinition:
    """The automation sensor, evaluating every ``interval_s`` seconds (FER_SENSOR_INTERVAL_S, given when the
    definitions are built), the conditions of the served assets (orchestration/automation.py): the one sensor
    that keeps what search serves current. expression_vectors lives in defs/models; it is named here by key."""
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
