import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fer_platform.storage.location import open_location


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
open_location(sys.argv[1]).write_atomic("part-0.parquet", b"new" * 100_000_000)
"""


def test_a_write_killed_half_way_leaves_the_previous_file_whole(tmp_path):
    location = open_location(str(tmp_path))
    location.write_atomic("part-0.parquet", b"previous")
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writer = subprocess.Popen([sys.executable, "-c", ATOMIC_WRITER, str(tmp_path)], env=env)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".part-0.parquet.*.tmp")) and time.monotonic() < deadline and writer.poll() is None:
        time.sleep(0.005)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert (tmp_path / "part-0.parquet").read_bytes() == b"previous"
    location.write_atomic("part-0.parquet", b"rerun")
    assert location.read("part-0.parquet") == b"rerun"
