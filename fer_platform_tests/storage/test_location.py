import os
import subprocess
import sys
from pathlib import Path

import pytest

from fer_platform.storage.location import open_location
from fer_platform_tests.support.in_flight import bytes_in_flight, kill_when, reads_as


def test_local_folder(tmp_path):
    loc = open_location(str(tmp_path / "lake"))
    assert loc.is_local and loc.root == (tmp_path / "lake").as_posix()


def test_adls_gen2_url_uses_the_blob_api_with_env_credentials(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", "a2V5")
    loc = open_location("abfss://lakehouse@feraccount.dfs.core.windows.net/raw")
    assert loc.root == "lakehouse/raw" and loc.fs.account_name == "feraccount"
    assert not loc.is_local


def test_bad_urls_are_named(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(ValueError, match="AZURE_STORAGE_CONNECTION_STRING"):
        open_location("az://container/x")
    with pytest.raises(ValueError, match="abfss://<container>@<account>"):
        open_location("abfss://nocontainer/x")
    with pytest.raises(ValueError, match="s3://b"):
        open_location("s3://b/x")


ATOMIC_WRITER = """
import sys
from fer_platform.storage.location import open_location
open_location(sys.argv[1]).write_atomic("part-0.parquet", b"new" * int(sys.argv[2]))
"""
NEW_BYTES = 3 * 100_000_000  # large enough to be killed while it is written (Azure: staged in 4 MiB blocks)


def test_a_write_killed_half_way_leaves_the_previous_file_whole(lake_url):
    """The writer is SIGKILLed alive, with bytes of the new object written where readers do not see them (a
    non-empty temporary file; blocks uploaded, not committed): the previous object reads whole, a re-run
    replaces it."""
    location = open_location(lake_url)
    location.ensure()
    location.write_atomic("part-0.parquet", b"previous")
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writer = subprocess.Popen([sys.executable, "-c", ATOMIC_WRITER, lake_url, str(NEW_BYTES // 3)], env=env)

    def under_way() -> int:  # bytes in flight; -1 if the object itself changed (a write that is not atomic)
        in_flight = bytes_in_flight(location, "part-0.parquet")
        return in_flight or (0 if reads_as(location, "part-0.parquet", b"previous") else -1)

    in_flight = kill_when(writer, under_way)
    assert location.read("part-0.parquet") == b"previous"  # readers still see the old object, whole
    assert 0 < in_flight <= NEW_BYTES  # the kill landed mid-write: new bytes were out, not yet the object
    assert bytes_in_flight(location, "part-0.parquet") > 0  # left behind, unseen: a temporary or uncommitted blocks
    location.write_atomic("part-0.parquet", b"rerun")
    assert location.read("part-0.parquet") == b"rerun"
