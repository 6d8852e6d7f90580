"""The search stage's own resource, ``search``: how similarity queries search the index."""

from dagster import ConfigurableResource, Definitions, definitions
from pydantic import Field

from fer_platform.orchestration.loading import loading_platform


class SearchResource(ConfigurableResource):
    """``hnsw.ef_search`` for queries (FER_EF_SEARCH): the recall check runs at the value the service uses; and
    how the index is built (FER_INDEX_BUILD_MEMORY, FER_INDEX_BUILD_WORKERS)."""

    ef_search: int = Field(description="HNSW candidate list size per query.")
    build_memory: str = Field(default="1GB", description="maintenance_work_mem of index builds.")
    build_workers: int = Field(default=0, description="max_parallel_maintenance_workers of index builds.")


@definitions
def search_resources() -> Definitions:
    """``search`` from FER_EF_SEARCH, FER_INDEX_BUILD_MEMORY and FER_INDEX_BUILD_WORKERS."""
    settings = loading_platform().settings
    search = SearchResource(
        ef_search=settings.ef_search,
        build_memory=settings.index_build_memory,
        build_workers=settings.index_build_workers,
    )
    return Definitions(resources={"search": search})
