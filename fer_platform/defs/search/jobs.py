"""Building the index by hand, and the automation that keeps it up to date after replica changes."""

from dagster import AutomationConditionSensorDefinition, DefaultSensorStatus, define_asset_job

from fer_platform.lib import names
from fer_platform.settings import load_settings

build_search_index = define_asset_job(
    names.INDEX_JOB, selection=[names.VECTOR_INDEX], description="Create or rebuild the HNSW index."
)

search_index_automation = AutomationConditionSensorDefinition(
    "search_index_automation",
    target=[names.VECTOR_INDEX],
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=load_settings().sensor_interval_s,
    description="Brings vector_index up to date after the replica changes.",
)
