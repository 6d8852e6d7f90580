"""Building the index by hand, and the automation that keeps it up to date after replica changes."""

from dagster import AutomationConditionSensorDefinition, DefaultSensorStatus, define_asset_job

from fer_platform.orchestration import names

build_search_index = define_asset_job(
    names.INDEX_JOB, selection=[names.VECTOR_INDEX], description="Create or rebuild the HNSW index."
)



def search_index_automation(interval_s: int) -> AutomationConditionSensorDefinition:
    """The automation sensor, evaluating every ``interval_s`` seconds (FER_SENSOR_INTERVAL_S, given when the
    definitions are built)."""
    return AutomationConditionSensorDefinition(
        "search_index_automation",
        target=[names.VECTOR_INDEX],
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_s,
        description="Brings vector_index up to date after the replica changes.",
    )
