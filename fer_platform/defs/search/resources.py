"""The search stage's resource: how similarity queries search the index."""

from dagster import ConfigurableResource
from pydantic import Field


class SearchSettings(ConfigurableResource):
    """``hnsw.ef_search`` for queries (FER_EF_SEARCH): the recall check runs at the value the service uses."""

    ef_search: int = Field(description="HNSW candidate list size per query.")
