"""The lakehouse stages end to end against a real Azurite and two real PostgreSQL databases."""

import polars as pl
import pyarrow.parquet as pq
from dagster import build_op_context

from fer_platform.defs.lake.checks import integrity_result, lake_paths_integrity
from fer_platform.lake.layout import image_path
from fer_platform.orchestration.names import PIPELINE_JOB
from fer_platform.orchestration.resources import ImagesResource, LakeResource, PostgresResource
from fer_platform.storage.location import open_location
from fer_platform_tests.support.constants import AZURITE_KEY
from fer_platform_tests.support.helpers import asset_metadata, check_results, run_partition
from fer_platform_tests.support.parquet_frames import frame, manager_on, write

LAKE_CHECKS = {
    "lake_image_count_matches_raw": True,
    "parquet_rows_match_replica": True,
    "lake_paths_integrity": True,
}


def pipeline(emotion):
    result = run_partition(emotion, job_name=PIPELINE_JOB)
    assert result.success
    return result


def test_images_and_parquet_land_in_the_lake(azure_env, image_root):
    odd = "ünïcødé face 1.png"
    (image_root / "train" / "happy" / odd).write_bytes((image_root / "train" / "sad" / "im3.png").read_bytes())
    result = pipeline("happy")
    checks = check_results(result)
    assert {k: v for k, v in checks.items() if k in LAKE_CHECKS} == LAKE_CHECKS
    assert asset_metadata(result, "source_images_blob")["sent"] == 5
    lake = open_location(azure_env["FER_LAKE_URL"])
    names = set(lake.listing("raw/images/fer2013/train/happy/"))
    assert f"raw/images/fer2013/train/happy/{odd}" in names and len(names) == 5
    meta = asset_metadata(result, "lakehouse_embeddings")
    assert (meta["whole_partition"], meta["rows_read"], meta["rows"]) == (True, 5, 5)
    # Any Delta reader joins filepath to FER_LAKE_URL: polars straight from the table, with the emulator.
    endpoint = azure_env["AZURE_STORAGE_CONNECTION_STRING"].split("BlobEndpoint=")[1].split(";")[0]
    options = {"account_name": "devstoreaccount1", "account_key": AZURITE_KEY, "endpoint": endpoint}
    table_url = azure_env["FER_LAKE_URL"].replace("az://", "abfs://") + "/raw/embeddings/fer2013"
    frame = pl.read_delta(table_url, storage_options=options | {"allow_http": "true"})
    vector_type = frame.schema["vector"]
    assert vector_type == pl.List(pl.Float32) and set(frame["vector"].list.len()) == {512}
    assert set(frame["filepath"]) == names and set(frame.columns) == {"id", "emotion", "filepath", "vector"}
    # and its data files stay plain Parquet, Hive-partitioned by emotion.
    data_files = [n for n in lake.listing("raw/embeddings/fer2013/emotion=happy/") if n.endswith(".parquet")]
    with lake.fs.open(lake.path(data_files[0]), "rb") as f:
        assert pq.read_table(f).num_rows == 5


def test_a_landing_merges_only_its_rows_into_the_delta_table(azure_env, image_root):
    pipeline("angry")
    (image_root / "train" / "angry" / "im0.png").unlink()
    (image_root / "train" / "angry" / "new.png").write_bytes((image_root / "train" / "happy" / "im0.png").read_bytes())
    meta = asset_metadata(pipeline("angry"), "lakehouse_embeddings")
    assert (meta["whole_partition"], meta["rows_read"], meta["changed_ids"]) == (False, 1, 2)
    assert (meta["rows_written"], meta["rows_deleted"], meta["rows"]) == (1, 1, 4)
    again = asset_metadata(pipeline("angry"), "lakehouse_embeddings")
    assert (again["rows_read"], again["changed_ids"], again["delta_version"]) == (0, 0, -1)  # no commit


def test_rerun_sends_nothing_and_changes_flow_through(azure_env, image_root):
    """The first run mirrors by listing; later runs move only what the manifest logged, and list nothing."""
    first = pipeline("sad")
    assert asset_metadata(first, "lakehouse_images")["mode"].startswith("whole sync")
    again = pipeline("sad")
    for asset in ("source_images_blob", "lakehouse_images"):
        meta = asset_metadata(again, asset)
        assert (meta["sent"], meta["deleted"], meta["mode"]) == (0, 0, "manifest delta")
    (image_root / "train" / "sad" / "im0.png").unlink()
    (image_root / "train" / "sad" / "new.png").write_bytes((image_root / "train" / "happy" / "im0.png").read_bytes())
    changed = pipeline("sad")
    for asset in ("source_images_blob", "lakehouse_images"):
        meta = asset_metadata(changed, asset)
        assert (meta["sent"], meta["deleted"], meta["mode"]) == (1, 1, "manifest delta")
    assert all(check_results(changed).values())
    local = {p.name for p in (image_root / "train" / "sad").iterdir()}
    source, lake = open_location(azure_env["FER_SOURCE_URL"]), open_location(azure_env["FER_LAKE_URL"])
    assert {n.split("/")[-1] for n in source.names("train/sad/")} == local
    assert {n.split("/")[-1] for n in lake.names(image_path("train/sad/"))} == local


def test_partial_upload_is_finished_without_resending(azure_env, image_root):
    source = open_location(azure_env["FER_SOURCE_URL"])
    source.fs.mkdir(source.root)
    for name in ("im0.png", "im1.png"):
        source.fs.pipe_file(source.path(f"train/angry/{name}"), (image_root / "train" / "angry" / name).read_bytes())
    meta = asset_metadata(pipeline("angry"), "source_images_blob")
    assert (meta["sent"], meta["unchanged"]) == (2, 2)


def test_integrity_check_fails_on_the_seeds_mismatched_prefixes(azure_env):
    pipeline("happy")
    lake = LakeResource(lake_url=azure_env["FER_LAKE_URL"])
    images = ImagesResource(
        image_root=azure_env["FER_IMAGE_ROOT"], source_url=azure_env["FER_SOURCE_URL"], split="train", settle_s=0
    )
    # What the seed's Data Factory wrote: paths rewritten to raw/imagenes/train/, images under raw/images/fer2013/.
    seed_rows = frame("happy", 4).with_columns(
        pl.format("raw/imagenes/train/happy/im{}.png", pl.col("id")).alias("filepath")
    )
    write(manager_on(azure_env["FER_LAKE_URL"]), "happy", seed_rows)  # the partition replaced by the seed's rows
    postgres = PostgresResource(dsn=azure_env["FER_PG_DSN"], embedded_pgdata="")
    context = build_op_context(partition_key="happy", resources={"lake": lake, "images": images, "postgres": postgres})
    result = lake_paths_integrity(context)
    assert result.passed is False
    assert result.metadata["paths_not_in_lake"].value == 4
    assert result.metadata["lake_images_without_exactly_one_row"].value == 4


def test_integrity_result_counts_duplicates():
    result = integrity_result(["a", "a", "b"], {"a", "b", "c"})
    assert not result.passed and result.metadata["lake_images_without_exactly_one_row"].value == 2


def test_after_a_landing_the_checks_ask_only_for_its_images_and_catch_one_missing(azure_env, image_root):
    pipeline("sad")
    folder = image_root / "train" / "sad"
    (folder / "landed.png").write_bytes((image_root / "train" / "happy" / "im0.png").read_bytes())
    landing = pipeline("sad")
    assert all(check_results(landing).values())
    lake = LakeResource(lake_url=azure_env["FER_LAKE_URL"])
    images = ImagesResource(
        image_root=azure_env["FER_IMAGE_ROOT"], source_url=azure_env["FER_SOURCE_URL"], split="train", settle_s=0
    )
    postgres = PostgresResource(dsn=azure_env["FER_PG_DSN"], embedded_pgdata="")
    resources = {"lake": lake, "images": images, "postgres": postgres}
    landed = image_path("train/sad/") + "landed.png"
    lake.lake().fs.rm_file(lake.lake().path(landed))  # lost after the mirror wrote it
    result = lake_paths_integrity(build_op_context(partition_key="sad", resources=resources))
    assert not result.passed and result.metadata["examples"].value == [landed]
    assert result.metadata["parquet_rows"].value == 1  # the landing's row, not the partition's
