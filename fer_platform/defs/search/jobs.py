"""Building the index by hand (the automation in ``sensors.py`` keeps it current otherwise)."""

from dagster import define_asset_job

from fer_platform.orchestration import names

build_search_index = define_asset_job(
    names.INDEX_JOB, selection=[names.VECTOR_INDEX], description="Create or rebuild the HNSW index."
)
