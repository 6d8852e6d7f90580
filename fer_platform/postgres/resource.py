"""The PostgreSQL connection resource shared by the IO manager, assets and checks."""


from contextlib import contextmanager
from typing import Iterator, Optional

import psycopg
from dagster import ConfigurableResource
from pgvector.psycopg import register_vector
from pydantic import Field

from fer_platform.postgres.embedded import embedded_dsn


class PostgresResource(ConfigurableResource):
    """A PostgreSQL + pgvector database: ``dsn`` when given, else the embedded server in ``embedded_pgdata``."""

    dsn: Optional[str] = Field(default=None, description="libpq DSN or URI (TCP or unix socket).")
    embedded_pgdata: str = Field(description="Data folder of the embedded server used when dsn is unset.")
    connect_timeout_s: int = 10

    def conninfo(self) -> str:
        """The DSN to connect with, starting the embedded server when none is configured."""
        return self.dsn or embedded_dsn(self.embedded_pgdata)

    @contextmanager
    def connect(self, vector: bool = True) -> Iterator[psycopg.Connection]:
        """A connection (one transaction per ``with conn.transaction()``), with pgvector types registered.

        ``vector=False`` is for the moment before ``CREATE EXTENSION vector`` has run.
        """
        with psycopg.connect(self.conninfo(), connect_timeout=self.connect_timeout_s) as conn:
            if vector:
                register_vector(conn)
            yield conn
