"""DSN handling shared by every database connection: Azure defaults and safe descriptions."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

AZURE_HOST_SUFFIX = ".postgres.database.azure.com"


def with_azure_defaults(dsn: str) -> str:
    """Add ``sslmode=require`` for Azure Database for PostgreSQL hosts unless the DSN says otherwise.

    Azure refuses unencrypted connections; libpq's default ``prefer`` would
    work but silently accept a downgrade, so we ask for TLS explicitly.
    """
    params = conninfo_to_dict(dsn)
    hosts = str(params.get("host", "")).split(",")
    if "sslmode" not in params and any(h.strip().endswith(AZURE_HOST_SUFFIX) for h in hosts):
        return make_conninfo(dsn, sslmode="require")
    return dsn


def describe(dsn: str) -> str:
    """``user@host:port/dbname`` for messages and metadata: never the password."""
    p = conninfo_to_dict(dsn)
    return f"{p.get('user', '')}@{p.get('host', 'localhost')}:{p.get('port', '5432')}/{p.get('dbname', '')}"
