"""The images mirror by the manifest's delta, on a real PostgreSQL and local folders: the first run syncs by
listing, later runs move only what was logged, and a run that dies before storing its horizon is repeated
harmlessly by the next."""

import psycopg
import pytest

from fer_platform.images.manifest_log import LOG, log_changes
from fer_platform.lake.mirror import apply_changes, mirror
from fer_platform.lake.transfer import sync_prefix
from fer_platform.storage.location import open_location

SCOPE = "train/happy/"


@pytest.fixture
def conn(pg_dsn):
    with psycopg.connect(pg_dsn) as connection:
        for table in (LOG, "fer_manifest_consumers"):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.commit()
        yield connection


def test_later_runs_apply_only_the_logged_changes_and_a_crash_repeats_them(conn, tmp_path):
    src, dst = open_location(str(tmp_path / "root")), open_location(str(tmp_path / "lake"))
    for name in ("a.png", "b.png"):
        src.write_atomic(SCOPE + name, name.encode())
    runs = []

    def run(fail: bool = False):
        def whole():
            runs.append("whole")
            return sync_prefix(src=src, src_prefix=SCOPE, dst=dst, dst_prefix=SCOPE)

        def delta(changes):
            runs.append(sorted(changes.items()))
            report = apply_changes(src, dst, lambda path: path, changes, 4)
            if fail:
                raise ConnectionError("killed after the transfer, before the horizon was stored")
            return report

        return mirror(conn, "mirror", SCOPE, whole, delta)

    run()
    assert runs == ["whole"] and dst.names(SCOPE) == {SCOPE + "a.png", SCOPE + "b.png"}
    src.write_atomic(SCOPE + "c.png", b"c")
    (tmp_path / "root" / SCOPE / "a.png").unlink()
    with conn.transaction():
        log_changes(conn, SCOPE, [(SCOPE + "c.png", True)], [SCOPE + "a.png"])
    with pytest.raises(ConnectionError):
        run(fail=True)
    report, mode = run()
    assert mode == "manifest delta" and report.sent == [SCOPE + "c.png"]
    assert report.deleted == []  # the dead run deleted a.png already: deleting it again is nothing
    assert runs[1] == runs[2] == [(SCOPE + "a.png", False), (SCOPE + "c.png", True)]
    assert dst.names(SCOPE) == {SCOPE + "b.png", SCOPE + "c.png"}
    report, _ = run()
    assert runs[3] == [] and report.sent == report.deleted == []
