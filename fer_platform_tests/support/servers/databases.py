"""Databases on a test or benchmark PostgreSQL server: create one, and name it for Dagster's storage."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def create_database(server_uri: str, name: str | None = None) -> str:
    """A new empty database on the server (a random ``t_...`` name by default); returns its conninfo."""
    name = name or f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(server_uri, dbname=name)


def copy_database(dsn: str) -> str:
    """A new database on the same server holding a copy of ``dsn``'s (``CREATE DATABASE ... TEMPLATE``: nobody
    may be connected to it meanwhile); returns its conninfo."""
    name, source = f"t_{uuid.uuid4().hex[:12]}", conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    return make_conninfo(dsn, dbname=name)


def dagster_storage_url(conninfo: str) -> str:
    """The database as the URL dagster-postgres hands to SQLAlchemy (``+psycopg2``: see dagster.yaml)."""
    info = conninfo_to_dict(conninfo)
    return f"postgresql+psycopg2://{info['user']}@/{info['dbname']}?host={info['host']}&port={info.get('port', 5432)}"
