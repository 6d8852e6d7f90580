"""The lake IO manager: same code for a local folder and Azurite, one partition or many; a run killed while it
writes leaves the previous partition file whole."""

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import (
    AssetKey,
    PartitionKeyRange,
    StaticPartitionsDefinition,
    build_input_context,
    build_output_context,
)

from fer_platform.defs.lake.io_managers import LakeIOManager
from fer_platform_tests.support.in_flight import bytes_in_flight, kill_when
from fer_platform_tests.support.parquet_frames import METADATA, frame, manager_on, write

PARTITIONS = StaticPartitionsDefinition(["happy", "sad"])


def read(manager: LakeIOManager, emotion: str) -> pl.DataFrame:
    upstream = build_output_context(asset_key=AssetKey("lakehouse_embeddings"), definition_metadata=METADATA)
    context = build_input_context(
        asset_key=AssetKey("lakehouse_embeddings"),
        upstream_output=upstream,
        asset_partitions_def=PARTITIONS,
        partition_key=emotion,
    )
    return manager.load_input(context)


def test_roundtrip_one_and_many_partitions(lake_url):
    manager = manager_on(lake_url)
    written = {"happy": frame("happy", 3), "sad": frame("sad", 2)}
    for key, df in written.items():
        write(manager, key, df)
    location = manager.lake.lake()
    assert location.fs.exists(location.path("raw/embeddings/fer2013/emotion=sad/part-0.parquet"))
    upstream = build_output_context(asset_key=AssetKey("lakehouse_embeddings"), definition_metadata=METADATA)
    both = manager.load_input(
        build_input_context(
            asset_key=AssetKey("lakehouse_embeddings"),
            upstream_output=upstream,
            asset_partitions_def=PARTITIONS,
            asset_partition_key_range=PartitionKeyRange("happy", "sad"),
        )
    )
    assert both.height == 5 and both.schema["vector"] == pl.Array(pl.Float32, 512)
    assert (
        both.filter(pl.col("emotion") == "sad")["vector"].to_numpy().tolist()
        == written["sad"]["vector"].to_numpy().tolist()
    )


PARTITION_FILE = "raw/embeddings/fer2013/emotion=happy/part-0.parquet"
BIG_WRITER = """
import sys
from fer_platform_tests.support.parquet_frames import frame, manager_on, write
write(manager_on(sys.argv[1]), "happy", frame("happy", 60_000))  # about 120 MB of Parquet
"""


@pytest.mark.slow  # SIGKILL of a writer subprocess
def test_a_run_killed_mid_write_leaves_the_previous_partition_whole(lake_url):
    manager = manager_on(lake_url)
    previous = frame("happy", 4)
    write(manager, "happy", previous)
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    writer = subprocess.Popen([sys.executable, "-c", BIG_WRITER, lake_url], env=env)
    location = manager.lake.lake()
    in_flight = kill_when(writer, lambda: bytes_in_flight(location, PARTITION_FILE))  # alive, bytes written
    assert in_flight > 0 and bytes_in_flight(location, PARTITION_FILE) >= in_flight  # left as it was, unseen
    assert read(manager, "happy").equals(previous)  # readers still see the old file, whole
    rerun = frame("happy", 7)
    write(manager, "happy", rerun)  # and the re-run replaces it
    assert read(manager, "happy").equals(rerun)
