"""new_images_sensor evaluated directly against a real instance, and the runs it asks for."""

import shutil

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from fer_platform.definitions import build_definitions, build_resources
from fer_platform.factory import Platform
from fer_platform.orchestration.names import PIPELINE_JOB
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform_tests.helpers import asset_metadata, run_partition, table_rows


@pytest.fixture
def instance(fer_env, monkeypatch):
    monkeypatch.setenv("FER_SETTLE_S", "0")
    with DagsterInstance.ephemeral() as inst:
        register_emotions(inst, ["angry", "happy", "sad"])
        yield inst


def tick(instance: DagsterInstance, cursor: str | None) -> SensorResult:
    settings = load_settings()
    resources = {k: v for k, v in build_resources(Platform(settings)).items() if k == "images"}
    ctx = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return build_definitions(settings).resolve_sensor_def("new_images_sensor")(ctx)


def requested(result: SensorResult) -> list[str]:
    return sorted(r.partition_key for r in result.run_requests)


def add_images(image_root, emotion: str, count: int) -> None:
    source = sorted((image_root / "train" / "angry").iterdir())[0]
    for i in range(count):
        shutil.copy(source, image_root / "train" / emotion / f"landed {i}.png")


def test_new_files_request_only_their_partition_once(instance, image_root):
    first = tick(instance, None)
    assert requested(first) == ["angry", "happy", "sad"]  # a fresh cursor: everything is news
    assert tick(instance, first.cursor).run_requests == []
    add_images(image_root, "happy", 2)
    second = tick(instance, first.cursor)
    assert requested(second) == ["happy"]
    [request] = second.run_requests
    assert request.run_key not in {r.run_key for r in first.run_requests}
    assert request.tags["fer/trigger"] == "new_images_sensor"
    again = tick(instance, second.cursor)
    assert again.run_requests == [] and again.skip_reason is not None


def test_a_repeated_evaluation_repeats_the_run_key(instance, image_root):
    first = tick(instance, None)
    add_images(image_root, "sad", 1)
    a, b = tick(instance, first.cursor), tick(instance, first.cursor)  # e.g. the cursor write was lost
    assert [r.run_key for r in a.run_requests] == [r.run_key for r in b.run_requests]


def test_removed_files_request_a_run_that_deletes_their_rows(instance, fer_env, image_root):
    assert run_partition("sad", instance, PIPELINE_JOB).success
    cursor = tick(instance, None).cursor
    gone = sorted((image_root / "train" / "sad").iterdir())[0]
    gone.unlink()
    result = tick(instance, cursor)
    assert requested(result) == ["sad"]
    assert run_partition("sad", instance, PIPELINE_JOB).success
    assert f"train/sad/{gone.name}" not in table_rows(fer_env["FER_REPLICA_DSN"], "sad")
    assert len(table_rows(fer_env["FER_REPLICA_DSN"], "sad")) == 3


def test_a_new_emotion_folder_becomes_a_dynamic_partition(instance, image_root):
    cursor = tick(instance, None).cursor
    (image_root / "train" / "contempt").mkdir()
    add_images(image_root, "contempt", 1)
    result = tick(instance, cursor)
    [add] = result.dynamic_partitions_requests
    assert add.partitions_def_name == "emotion" and list(add.partition_keys) == ["contempt"]
    assert requested(result) == ["contempt"]


def test_a_file_still_being_written_waits_for_a_later_tick(instance, image_root, monkeypatch):
    cursor = tick(instance, None).cursor
    monkeypatch.setenv("FER_SETTLE_S", "3600")
    add_images(image_root, "angry", 1)
    (image_root / "train" / "happy" / "upload.png.part").write_bytes(b"\x89PNG half")
    result = tick(instance, cursor)
    assert result.run_requests == []
    assert result.cursor == cursor  # the angry folder keeps its old digest until it settles
    monkeypatch.setenv("FER_SETTLE_S", "0")
    assert requested(tick(instance, result.cursor)) == ["angry"]  # the .part file is never news


def test_images_landing_in_the_source_container_are_detected_and_embedded(instance, azure_env, image_root):
    assert run_partition("happy", instance, PIPELINE_JOB).success  # uploads happy to the container
    cursor = tick(instance, None).cursor
    assert tick(instance, cursor).run_requests == []  # our own uploads are not news
    source = open_location(azure_env["FER_SOURCE_URL"])
    png = sorted((image_root / "train" / "angry").iterdir())[0].read_bytes()
    source.fs.pipe_file(source.path("train/happy/from_blob.png"), png)
    result = tick(instance, cursor)
    assert requested(result) == ["happy"]
    assert run_partition("happy", instance, PIPELINE_JOB).success
    assert (image_root / "train" / "happy" / "from_blob.png").read_bytes() == png
    assert "train/happy/from_blob.png" in table_rows(azure_env["FER_REPLICA_DSN"], "happy")
    # The download is a new local file: one more run, which finds nothing to embed; then quiet.
    echo = tick(instance, result.cursor)
    assert requested(echo) == ["happy"]
    assert asset_metadata(run_partition("happy", instance, PIPELINE_JOB), "embeddings_table")["embedded"] == 0
    assert tick(instance, echo.cursor).run_requests == []
