"""The PostgreSQL connection resource shared by IO managers, assets and checks."""

from contextlib import contextmanager
from typing import Iterator, Optional

import psycopg
from dagster import ConfigurableResource
from pgvector.psycopg import register_vector
from pydantic import Field

from fer_platform.postgres.dsn import describe, with_azure_defaults
from fer_platform.postgres.embedded import embedded_dsn


class DatabaseUnreachableError(ConnectionError):
    """The server cannot be reached; the message names it (without the password) and what to check."""


class PostgresResource(ConfigurableResource):
    """A PostgreSQL + pgvector database: ``dsn`` when given, else the embedded server in ``embedded_pgdata``."""

    dsn: Optional[str] = Field(default=None, description="libpq DSN or URI (TCP or unix socket).")
    embedded_pgdata: str = Field(description="Data folder of the embedded server used when dsn is unset.")
    connect_timeout_s: int = 10

    def conninfo(self) -> str:
        """The DSN to connect with (Azure hosts get sslmode=require), starting the embedded server if unset."""
        return with_azure_defaults(self.dsn) if self.dsn else embedded_dsn(self.embedded_pgdata)

    @contextmanager
    def connect(self, vector: bool = True) -> Iterator[psycopg.Connection]:
        """A connection with pgvector types registered (``vector=False`` before the extension exists)."""
        dsn = self.conninfo()
        try:
            conn = psycopg.connect(dsn, connect_timeout=self.connect_timeout_s)
        except psycopg.OperationalError as exc:
            raise DatabaseUnreachableError(
                f"cannot connect to PostgreSQL at {describe(dsn)}: {str(exc).strip()}. "
                f"Check that the server runs, that its firewall allows this machine's IP "
                f"(Azure: Networking > Firewall rules) and the DSN's credentials."
            ) from exc
        with conn:
            if vector:
                register_vector(conn)
            yield conn
