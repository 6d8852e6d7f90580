"""The embeddings stage's own resource: ``pgvector_io_manager``, on the platform's source database."""

from dagster import Definitions, definitions

from fer_platform.defs.embeddings.io_managers import PgVectorIOManager
from fer_platform.orchestration.loading import loading_platform
from fer_platform.orchestration.resources import source_database
from fer_platform.table.schema import DEFAULT_TABLE


@definitions
def embeddings_resources() -> Definitions:
    """The IO manager of ``embeddings_table`` (and of the rows a downstream asset loads from it)."""
    postgres = source_database(loading_platform())
    return Definitions(resources={"pgvector_io_manager": PgVectorIOManager(postgres=postgres, table=DEFAULT_TABLE)})
