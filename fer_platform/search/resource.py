"""Search settings as a Dagster resource (the recall check runs at the ef_search the service uses)."""

from dagster import ConfigurableResource
from pydantic import Field

from fer_platform.search.query import DEFAULT_EF_SEARCH


class SearchSettings(ConfigurableResource):
    """``hnsw.ef_search`` for queries (FER_EF_SEARCH)."""

    ef_search: int = Field(default=DEFAULT_EF_SEARCH, description="HNSW candidate list size per query.")
