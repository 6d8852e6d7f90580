"""A source database with no landing tables yet, for the landing tests."""

import psycopg
import pytest


@pytest.fixture
def conn(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        for table in ("fer_landing_events", "fer_landing_ledger"):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
        yield connection
