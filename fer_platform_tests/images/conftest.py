"""A source database with the manifest's tables, for the scan tests."""

import psycopg
import pytest

from fer_platform.images.stored_manifest import ensure_manifest_table


@pytest.fixture
def conn(pg_dsn):
    with psycopg.connect(pg_dsn) as connection:
        ensure_manifest_table(connection)
        connection.commit()
        yield connection
