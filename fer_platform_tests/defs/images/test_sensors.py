"""new_images_sensor evaluated directly against a real instance, and the runs it asks for."""

import json
import shutil
import time
import uuid

import psycopg
import pytest
from dagster import DagsterInstance, DagsterRunStatus, SensorResult, build_sensor_context
from dagster._core.test_utils import create_run_for_test

from fer_platform.definitions import build_definitions
from fer_platform.defs.images import assets as image_assets
from fer_platform.defs.images import sensors
from fer_platform.factory import Platform
from fer_platform.images.landings import reconcile, retries
from fer_platform.images.landings.event_log import blobs_to_land
from fer_platform.images.landings.landed_paths import LandedPaths, folder_mtime, record_landed
from fer_platform.images.landings.landing import land_from_events
from fer_platform.images.landings.queue import EventQueue
from fer_platform.orchestration.names import EMBED_JOB, LANDING_RUN_TAG, PIPELINE_JOB
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.orchestration.resources import shared_resources
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform_tests.support.event_messages import blob_event, message, sequencer
from fer_platform_tests.support.helpers import asset_metadata, run_partition, table_rows

EVENTS_SENSOR = "landing_events_sensor"


@pytest.fixture
def instance(fer_env, monkeypatch):
    monkeypatch.setenv("FER_SETTLE_S", "0")
    with DagsterInstance.ephemeral() as inst:
        register_emotions(inst, ["angry", "happy", "sad"])
        yield inst


def tick(instance: DagsterInstance, cursor: str | None, sensor: str = "new_images_sensor") -> SensorResult:
    settings = load_settings()
    resources = {k: v for k, v in shared_resources(Platform(settings)).items() if k in ("images", "postgres")}
    ctx = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return build_definitions(settings).resolve_sensor_def(sensor)(ctx)


def run_requested(instance: DagsterInstance, request, raise_on_error: bool = False):
    """Run the pipeline for a request as the daemon would: its partition and its tags (run key included)."""
    job = build_definitions(load_settings()).resolve_job_def(PIPELINE_JOB)
    tags = request.tags | {"dagster/run_key": request.run_key}
    return job.execute_in_process(
        partition_key=request.partition_key, instance=instance, tags=tags, raise_on_error=raise_on_error
    )


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


def test_a_landing_in_flight_gets_no_second_run_of_its_folder(instance, fer_env, image_root):
    """While a landing run copies into a folder and reads it, the folder's new mtime is that run's: no echo run;
    once the run has finished without reading it (failed), the folder is asked for."""
    assert run_partition("happy", instance, PIPELINE_JOB).success
    cursor = tick(instance, None).cursor
    folder = image_root / "train" / "happy"
    run = create_run_for_test(instance, status=DagsterRunStatus.STARTED)
    with psycopg.connect(fer_env["FER_PG_DSN"], autocommit=True) as conn:
        before = folder_mtime(folder)
        record_landed(conn, run.run_id, "train/happy/", LandedPaths([], before))
        add_images(image_root, "happy", 1)
        assert tick(instance, cursor).run_requests == []  # still copying
        record_landed(
            conn, run.run_id, "train/happy/", LandedPaths(["train/happy/landed 0.png"], before, folder_mtime(folder))
        )
        assert tick(instance, cursor).run_requests == []  # copied, its scan not stored yet
        instance.report_run_failed(run)
        assert requested(tick(instance, cursor)) == ["happy"]


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
    assert result.cursor == cursor  # nothing asked for until the folders settle
    monkeypatch.setenv("FER_SETTLE_S", "0")
    # The .part file changed happy's folder: its run reads no file (a .part file is never an image).
    assert requested(tick(instance, result.cursor)) == ["angry", "happy"]


def test_images_landing_in_the_source_container_are_detected_and_embedded(instance, azure_env, image_root):
    """Without an events queue, the paged listing finds the blob; its run lands it; no echo run follows."""
    assert run_partition("happy", instance, PIPELINE_JOB).success  # uploads happy to the container
    cursor = tick(instance, None).cursor
    assert tick(instance, cursor).run_requests == []  # our own uploads are not news
    source = open_location(azure_env["FER_SOURCE_URL"])
    png = sorted((image_root / "train" / "angry").iterdir())[0].read_bytes()
    source.fs.pipe_file(source.path("train/happy/from_blob.png"), png)
    result = tick(instance, cursor)
    [request] = result.run_requests
    assert request.partition_key == "happy" and LANDING_RUN_TAG in request.tags
    run = run_requested(instance, request)
    assert run.success and asset_metadata(run, "landed_images")["landed"] == 1
    scanned = asset_metadata(run, "raw_images")
    assert (scanned["files_hashed"], scanned["found_by"], scanned["files"]) == (1, "the files this run landed", 5)
    assert (image_root / "train" / "happy" / "from_blob.png").read_bytes() == png
    assert "train/happy/from_blob.png" in table_rows(azure_env["FER_REPLICA_DSN"], "happy")
    assert tick(instance, result.cursor).run_requests == []  # the download was read by that run: no echo


def test_a_landing_run_lists_the_folder_when_something_else_changed_it(instance, azure_env, image_root):
    """A file dropped into the image root beside a landing is not missed: that run lists the folder."""
    assert run_partition("happy", instance, PIPELINE_JOB).success
    cursor = tick(instance, None).cursor
    source = open_location(azure_env["FER_SOURCE_URL"])
    png = sorted((image_root / "train" / "angry").iterdir())[0].read_bytes()
    source.fs.pipe_file(source.path("train/happy/from_blob.png"), png)
    (image_root / "train" / "happy" / "dropped.png").write_bytes(png)
    [request] = [r for r in tick(instance, cursor).run_requests if LANDING_RUN_TAG in r.tags]
    scanned = asset_metadata(run_requested(instance, request), "raw_images")
    assert (scanned["files_hashed"], scanned["found_by"], scanned["files"]) == (2, "a listing", 6)


def test_blob_events_start_runs_that_read_exactly_their_blobs(instance, azure_env, image_root, monkeypatch):
    """With FER_EVENTS_QUEUE, one run per touched emotion carrying its events; the run lands those blobs only
    (the container is never listed), and a blob deleted before the run reads it is named, not a crash."""
    name = f"events-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("FER_EVENTS_QUEUE", name)
    monkeypatch.setenv("FER_RECONCILE_HOURS", "0")
    source = open_location(azure_env["FER_SOURCE_URL"])
    source.ensure()
    queue = EventQueue(source.url, name)
    queue.ensure()
    watched = tick(instance, None)  # the image root's folders are still watched: all three are news once
    assert requested(watched) == ["angry", "happy", "sad"]
    assert requested(tick(instance, None, EVENTS_SENSOR)) == []
    png = sorted((image_root / "train" / "angry").iterdir())[0].read_bytes()
    for k, blob in enumerate(("new.png", "deleted.png", "unannounced.png")):
        source.fs.pipe_file(source.path(f"train/happy/{blob}"), png)
        if blob != "unannounced.png":
            event = blob_event(f"train/happy/{blob}", sequencer(k + 1), container=source.root)
            queue.main.send_message(message(event, encoded=k == 1))
    source.fs.rm(source.path("train/happy/deleted.png"))  # its delete event has not arrived yet
    result = tick(instance, None, EVENTS_SENSOR)
    [request] = result.run_requests
    assert request.partition_key == "happy" and request.tags[LANDING_RUN_TAG] == request.run_key
    job = build_definitions(load_settings()).resolve_job_def(EMBED_JOB)
    run = job.execute_in_process(partition_key="happy", instance=instance, tags=request.tags, raise_on_error=False)
    assert run.success
    landed = asset_metadata(run, "landed_images")
    assert landed["landed"] == 1 and landed["found_by"] == "events" and "deleted.png" in landed["failed_files"]
    assert not (image_root / "train" / "happy" / "unannounced.png").exists()  # no event, no listing: not found
    assert "train/happy/new.png" in table_rows(azure_env["FER_PG_DSN"], "happy")
    quiet = tick(instance, result.cursor, EVENTS_SENSOR)  # the events were read
    assert quiet.run_requests == [] and "poison queue" in quiet.skip_reason.skip_message
    assert tick(instance, watched.cursor).run_requests == []  # happy's landing was read by its run: no echo


def test_an_events_queue_for_a_local_source_folder_is_refused_on_load(fer_env, monkeypatch):
    monkeypatch.setenv("FER_EVENTS_QUEUE", "events")
    with pytest.raises(ValueError, match="FER_EVENTS_QUEUE='events' needs FER_SOURCE_URL to be an Azure container"):
        build_definitions(load_settings())


def test_a_landing_that_fails_for_good_is_retried_with_backoff_then_named(instance, azure_env, image_root, monkeypatch):
    """Each failed run of a landing re-opens its events under a new key (after a backoff); after MAX_TRIES the
    sensor reports landings_delivered failed, naming the blob, until `events retry-abandoned` re-opens it."""
    monkeypatch.setattr(retries, "BACKOFF_S", 0)
    source = open_location(azure_env["FER_SOURCE_URL"])
    source.ensure()
    png = sorted((image_root / "train" / "angry").iterdir())[0].read_bytes()
    source.fs.pipe_file(source.path("train/sad/stuck.png"), png)
    monkeypatch.setattr(image_assets, "land_from_events", broken_landing)
    cursor, keys = None, []
    for _ in range(retries.MAX_TRIES):
        result = tick(instance, cursor)
        cursor = result.cursor
        [request] = [r for r in result.run_requests if LANDING_RUN_TAG in r.tags]
        keys.append(request.run_key)
        assert not run_requested(instance, request).success
    assert keys[1] == f"{keys[0]}~2" and keys[2] == f"{keys[0]}~3"
    given_up = tick(instance, cursor)
    assert not [r for r in given_up.run_requests if LANDING_RUN_TAG in r.tags]
    [alert] = given_up.asset_events
    assert alert.check_name == "landings_delivered" and not alert.passed and alert.partition == "sad"
    assert "train/sad/stuck.png" in alert.metadata["blobs"].value
    monkeypatch.setattr(image_assets, "land_from_events", land_from_events)  # the outage is over
    with psycopg.connect(azure_env["FER_PG_DSN"], autocommit=True) as conn:
        assert retries.reopen_abandoned(conn) == 1
    [request] = [r for r in tick(instance, given_up.cursor).run_requests if LANDING_RUN_TAG in r.tags]
    assert run_requested(instance, request, raise_on_error=True).success
    assert (image_root / "train" / "sad" / "stuck.png").exists()


def broken_landing(*args, **kwargs):
    raise ConnectionError("simulated outage of the source account")


def test_a_tick_stays_within_its_bound_while_the_listing_pages_through_more(instance, azure_env, monkeypatch):
    """More blobs than one tick may list: each tick lists about its budget, and the pass goes on next tick."""
    monkeypatch.setattr(sensors, "TICK_BUDGET_S", 0.005)
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 5)
    source = open_location(azure_env["FER_SOURCE_URL"])
    source.ensure()
    for i in range(60):
        source.fs.pipe_file(source.path(f"train/happy/far {i:02}.png"), b"not read by the tick")
    cursor, ticks = None, 0
    while True:
        started = time.monotonic()
        result = tick(instance, cursor)
        assert time.monotonic() - started < 0.005 + 2.0  # the budget, one page and the tick's fixed costs
        ticks, cursor = ticks + 1, result.cursor
        if "pass" not in json.loads(cursor):
            break
    assert ticks >= 4  # 12 pages, a few per tick
    keys = [r.run_key for r in result.run_requests if LANDING_RUN_TAG in r.tags]
    assert 1 < len(keys) <= ticks  # at most one run per emotion per tick
    with psycopg.connect(azure_env["FER_PG_DSN"]) as conn:
        assert sum(len(blobs_to_land(conn, "happy", key)) for key in keys) == 60


def test_a_missing_source_container_is_named_and_never_created_while_the_folders_still_run(
    instance, azure_env, monkeypatch
):
    monkeypatch.setenv("FER_SOURCE_URL", f"az://mistyped-{uuid.uuid4().hex[:8]}")
    result = tick(instance, None)
    assert requested(result) == ["angry", "happy", "sad"]  # the image root is not hidden by the container
    source = open_location(load_settings().resolved_source_url)
    assert not source.fs.exists(source.root)
    said = tick(instance, result.cursor).skip_reason.skip_message
    assert "source container NOT listed" in said and "mistyped-" in said
