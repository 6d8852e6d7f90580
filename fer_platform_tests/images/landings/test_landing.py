"""Landing from an Azure source container (Azurite) into the image root, with the ledger on a real PostgreSQL:
new blobs are downloaded once; a file deleted from the image root never comes back."""

import uuid

import psycopg

from fer_platform.images.landings.landing import download, land_from_source
from fer_platform.storage.location import open_location

SCOPE = "train/happy/"


def test_landings_are_downloaded_once_and_local_deletions_stick(tmp_path, pg_dsn, azurite, monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    source = open_location(f"az://src-{uuid.uuid4().hex[:10]}")
    source.ensure()
    root = tmp_path / "images"
    (root / SCOPE).mkdir(parents=True)
    (root / SCOPE / "uploaded.png").write_bytes(b"from the image root")
    for name, data in (("uploaded.png", b"from the image root"), ("landed.png", b"from outside")):
        source.fs.pipe_file(source.path(SCOPE + name), data)

    def land() -> list[str]:
        with psycopg.connect(pg_dsn) as conn:
            landed, gone = land_from_source(source, root, SCOPE, conn, download(source, root, 4))
            assert gone == []
            return landed

    assert land() == [SCOPE + "landed.png"]
    assert (root / SCOPE / "landed.png").read_bytes() == b"from outside"
    assert land() == []  # nothing new
    for name in ("uploaded.png", "landed.png"):
        (root / SCOPE / name).unlink()  # deleted where the authority is; the blobs are still there
    assert land() == [] and not any((root / SCOPE).iterdir())
    source.fs.pipe_file(source.path(SCOPE + "later.png"), b"a new landing")
    assert land() == [SCOPE + "later.png"]
    with psycopg.connect(pg_dsn) as conn:
        recorded = {p for (p,) in conn.execute("SELECT filepath FROM fer_landing_ledger").fetchall()}
    assert recorded == {SCOPE + n for n in ("uploaded.png", "landed.png", "later.png")}


def test_a_local_source_folder_lands_nothing(tmp_path, pg_dsn):
    source = open_location(str(tmp_path / "blob"))
    with psycopg.connect(pg_dsn) as conn:
        assert land_from_source(source, tmp_path / "images", SCOPE, conn, download(source, tmp_path, 4)) == ([], [])


def test_a_missing_source_container_lands_nothing_and_is_not_created(tmp_path, pg_dsn, azurite, monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    source = open_location(f"az://not-yet-{uuid.uuid4().hex[:8]}")
    with psycopg.connect(pg_dsn) as conn:
        assert land_from_source(source, tmp_path / "images", SCOPE, conn, download(source, tmp_path, 4)) == ([], [])
    assert not source.fs.exists(source.root)
