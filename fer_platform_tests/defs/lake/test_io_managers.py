"""The lake IO manager: the Delta table, with the same code for a local folder and Azurite, one partition or many;
a change is one commit, and a run killed while it writes leaves the previous version readable."""

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
from deltalake import DeltaTable

from fer_platform.defs.lake.io_managers import LakeIOManager
from fer_platform.lake.delta import MAX_LISTED_IDS, applied_horizon, embeddings_target, id_filter
from fer_platform.lake.maintenance import maintain
from fer_platform_tests.support.in_flight import kill_when, objects_in_flight
from fer_platform_tests.support.parquet_frames import METADATA, frame, manager_on, write

PARTITIONS = StaticPartitionsDefinition(["happy", "sad"])
PREFIX = "raw/embeddings/fer2013"


def read(manager: LakeIOManager, emotion: str) -> pl.DataFrame:
    upstream = build_output_context(asset_key=AssetKey("lakehouse_embeddings"), definition_metadata=METADATA)
    context = build_input_context(
        asset_key=AssetKey("lakehouse_embeddings"),
        upstream_output=upstream,
        asset_partitions_def=PARTITIONS,
        partition_key=emotion,
    )
    return manager.load_input(context).sort("id")


def table_of(manager: LakeIOManager) -> DeltaTable:
    return embeddings_target(manager.lake.lake()).open()


def test_roundtrip_one_and_many_partitions(lake_url):
    manager = manager_on(lake_url)
    written = {"happy": frame("happy", 3), "sad": frame("sad", 2, start=10)}
    for key, df in written.items():
        write(manager, key, df)
    location = manager.lake.lake()
    assert location.fs.exists(location.path(f"{PREFIX}/_delta_log/00000000000000000000.json"))
    assert table_of(manager).metadata().partition_columns == ["emotion"]
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


def test_a_change_is_one_merge_commit_with_its_horizon(lake_url):
    manager = manager_on(lake_url)
    write(manager, "happy", frame("happy", 6), horizon=100)
    write(manager, "sad", frame("sad", 2, start=50), horizon=100)
    before = table_of(manager).version()
    files_before = set(pl.DataFrame(table_of(manager).get_add_actions(flatten=True))["path"])
    added = frame("happy", 2, start=6)
    meta = write(manager, "happy", added, ids=[1, 6, 7], horizon=130)  # id 1 deleted, 6 and 7 new
    assert (meta["rows_written"], meta["rows_deleted"], meta["rows"]) == (2, 1, 7)
    assert table_of(manager).version() == before + 1
    new_files = pl.DataFrame(table_of(manager).get_add_actions(flatten=True))
    added_now = {p: n for p, n in new_files.select("path", "size_bytes").rows() if p not in files_before}
    assert meta["bytes_written"] == sum(added_now.values()) > 0  # the merge's files, not the table's
    assert applied_horizon(embeddings_target(manager.lake.lake()), "happy") == 130
    assert applied_horizon(embeddings_target(manager.lake.lake()), "sad") == 100
    assert read(manager, "happy")["id"].to_list() == [0, 2, 3, 4, 5, 6, 7]
    assert read(manager, "sad")["id"].to_list() == [50, 51]  # another partition is never touched
    replay = write(manager, "happy", added, ids=[1, 6, 7], horizon=130)  # a re-run after a kill: applied once
    assert replay["rows"] == 7 and read(manager, "happy")["id"].to_list() == [0, 2, 3, 4, 5, 6, 7]
    assert write(manager, "happy", frame("happy", 0), ids=[])["delta_version"] == -1  # nothing: no commit


def test_a_landing_merge_reads_only_the_data_files_its_ids_can_be_in(tmp_path):
    """New ids only: no data file is read; a delete of an old id: the file that holds it, not the partition."""
    manager = manager_on(str(tmp_path / "lake"))
    write(manager, "happy", frame("happy", 4), horizon=100)
    for start in (4, 8, 12):  # four more data files, each with its own id range
        write(manager, "happy", frame("happy", 4, start=start), ids=list(range(start, start + 4)), horizon=100 + start)
    write(manager, "happy", frame("happy", 2, start=16), ids=[16, 17], horizon=200)
    assert table_of(manager).history(1)[0]["operationMetrics"]["num_target_files_scanned"] == 0
    write(manager, "happy", frame("happy", 0), ids=[9], horizon=210)  # id 9 deleted
    metrics = table_of(manager).history(1)[0]["operationMetrics"]
    assert (metrics["num_target_files_scanned"], metrics["num_target_rows_deleted"]) == (1, 1)
    assert 9 not in read(manager, "happy")["id"].to_list() and len(read(manager, "happy")) == 17


def test_a_large_change_merges_with_an_id_range_not_a_list(tmp_path):
    """A list of 300,000 literal ids overflowed delta-rs's stack (the landing benchmark's growth run); past
    MAX_LISTED_IDS the merge filters by the ids' range."""
    assert id_filter([3, 1, 2]) == "t.id IN (3, 1, 2)"
    assert id_filter(list(range(MAX_LISTED_IDS + 1))) == f"t.id BETWEEN 0 AND {MAX_LISTED_IDS}"
    manager = manager_on(str(tmp_path / "lake"))
    write(manager, "happy", frame("happy", 4), horizon=100)
    count = MAX_LISTED_IDS + 500
    meta = write(manager, "happy", frame("happy", count, start=4), ids=list(range(4, 4 + count)), horizon=200)
    assert (meta["rows_written"], meta["rows"]) == (count, count + 4)


def test_a_whole_partition_replaces_the_file_of_earlier_releases(tmp_path):
    manager = manager_on(str(tmp_path))
    legacy = tmp_path / PREFIX / "emotion=happy" / "part-0.parquet"
    legacy.parent.mkdir(parents=True)
    frame("happy", 9).write_parquet(legacy)
    write(manager, "happy", frame("happy", 3))
    assert not legacy.exists() and read(manager, "happy").height == 3
    assert pl.read_parquet(str(tmp_path / PREFIX / "emotion=happy" / "*.parquet")).height == 3  # still Parquet


BIG_WRITER = """
import sys
from fer_platform_tests.support.parquet_frames import frame, manager_on, write
write(manager_on(sys.argv[1]), "happy", frame("happy", 90_000), horizon=2)  # about 180 MB of Parquet
"""


@pytest.mark.slow  # SIGKILL of a writer subprocess
def test_a_run_killed_mid_write_leaves_the_previous_partition_whole(lake_url):
    manager = manager_on(lake_url)
    previous = frame("happy", 4)
    write(manager, "happy", previous)
    version = table_of(manager).version()
    location = manager.lake.lake()
    before = objects_in_flight(location, PREFIX, set())
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    writer = subprocess.Popen([sys.executable, "-c", BIG_WRITER, lake_url], env=env)
    assert kill_when(writer, lambda: len(objects_in_flight(location, PREFIX, before))) > 0
    assert table_of(manager).version() == version  # no commit: the log is as it was
    assert read(manager, "happy").equals(previous.sort("id"))  # readers still see the previous version, whole
    rerun = frame("happy", 7)
    write(manager, "happy", rerun)  # and the re-run replaces it
    assert read(manager, "happy").equals(rerun)


def test_maintenance_compacts_and_keeps_every_row(lake_url):
    manager = manager_on(lake_url)
    write(manager, "happy", frame("happy", 3))
    for start in (3, 5, 7):
        write(manager, "happy", frame("happy", 2, start=start), ids=[start, start + 1])
    files = len(table_of(manager).file_uris())
    report = maintain(embeddings_target(manager.lake.lake()))
    assert report.files_removed == files and report.files_added == 1
    assert len(table_of(manager).file_uris()) == 1
    assert read(manager, "happy")["id"].to_list() == list(range(9))
