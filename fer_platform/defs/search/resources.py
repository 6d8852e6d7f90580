"""The search stage's own resource, ``search``: how similarity queries search the index."""

from dagster import ConfigurableResource, Definitions, definitions
from pydantic import Field

from fer_platform.orchestration.loading import loading_platform


class SearchResource(ConfigurableResource):
    """``hnsw.ef_search`` for queries (FER_EF_SEARCH): the recall check runs at the value the service uses."""

    ef_search: int = Field(description="HNSW candidate list size per query.")


@definitions
def search_resources() -> Definitions:
    """``search`` from FER_EF_SEARCH."""
    return Definitions(resources={"search": SearchResource(ef_search=loading_platform().settings.ef_search)})
