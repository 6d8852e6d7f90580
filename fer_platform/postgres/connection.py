"""Opening a connection to the source or the replica, with an error that names the server, never the password."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import psycopg
from pgvector.psycopg import register_vector

from fer_platform.postgres.dsn import describe, with_azure_defaults
from fer_platform.postgres.embedded import embedded_dsn

CONNECT_TIMEOUT_S = 10


class DatabaseUnreachableError(ConnectionError):
    """The server cannot be reached; the message names it (without the password) and what to check."""


def conninfo(dsn: Optional[str], embedded_pgdata: Path | str) -> str:
    """The DSN to connect with: ``dsn`` (Azure hosts get sslmode=require), else the embedded server's."""
    return with_azure_defaults(dsn) if dsn else embedded_dsn(Path(embedded_pgdata))


def error_line(exc: BaseException) -> str:
    """The first line of a driver error (its detail and hints follow on other lines), or its type when empty:
    what one-line messages and logs quote. libpq's messages name the server, never the password."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def connect(dsn: str, vector: bool = True, timeout_s: int = CONNECT_TIMEOUT_S) -> Iterator[psycopg.Connection]:
    """A connection with pgvector types registered (``vector=False`` before the extension exists)."""
    try:
        conn = psycopg.connect(dsn, connect_timeout=timeout_s)
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


def require_idle(conn: psycopg.Connection) -> None:
    """Refuse a connection inside a transaction: what follows commits step by step (``with conn.transaction()``
    on an idle connection), and inside one each step would only be a savepoint, its commit lost."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("this needs an idle connection (commit first): its steps commit one by one")
