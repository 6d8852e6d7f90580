"""The platform on a real multi-node Ray cluster (a head and two 1-CPU worker nodes, separate processes):
embedding, emotion_model training and expression vectors.

Not collected on its own (its name has no ``test_`` prefix): ``test_on_ray.py`` runs this file inside a network
namespace of its own, where the nodes' traffic cannot leave loopback. One cluster serves the whole module.
"""

import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import psycopg
import pytest
from dagster import DagsterInstance

from fer_platform.embeddings.embedder import embed_files
from fer_platform.embeddings.model import load_model
from fer_platform.embeddings.on_ray import RayEmbedder
from fer_platform.images.on_ray import describe_on_ray
from fer_platform.images.scan import scan_emotion, scan_folder
from fer_platform.orchestration.names import EMBED_JOB, EXPRESSION_JOB, SYNC_JOB
from fer_platform.ray_cluster.connection import connected
from fer_platform.ray_cluster.pipelines import Pool, RayStallError, task_pipeline
from fer_platform.sample_data import write_sample_dataset
from fer_platform.storage.location import open_location
from fer_platform_tests.support.helpers import (
    asset_metadata,
    big_partition,
    cosines,
    embeddings_metadata,
    expression_rows,
    run_partition,
    step_running,
    table_rows,
    trained_metadata,
)
from fer_platform_tests.support.servers.ray_nodes import killing, runners, running_cluster, sleepy, store_rows

MIN_COSINE = 0.9999
TEST_POOL = Pool(actors=(1, 2), tasks=2, gpus_per_actor=0.0, stall_s=120, startup_s=120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, azurite, pg_server_uri, replica_server_uri):
    """Head + two worker nodes; the workers hold the source container's credentials (the driver need not). The
    embedded PostgreSQL servers start first, before any Ray connection (see ``two_hosts_cluster.cluster``)."""
    if os.environ.get("FER_NETNS") != "1":
        pytest.fail("run through test_on_ray.py: the Ray cluster must live in a network namespace of its own")
    with running_cluster(tmp_path_factory.mktemp("ray"), azurite) as nodes:
        yield nodes


@pytest.fixture
def on_ray(cluster, fer_env, monkeypatch):
    for key, value in {"FER_RAY_ADDRESS": cluster.address, "FER_RAY_ACTORS": "1,2", "FER_BATCH_SIZE": "8"}.items():
        monkeypatch.setenv(key, value)
    return fer_env


def test_vectors_equal_the_in_process_path_and_metadata_says_ray(on_ray, cluster, monkeypatch):
    """The same files embedded in process and on the cluster: cosine >= 0.9999 for every row."""
    monkeypatch.delenv("FER_RAY_ADDRESS")
    assert run_partition("sad", job_name=EMBED_JOB).success
    expected = {path: vec for path, (_, _, vec) in table_rows(on_ray["FER_PG_DSN"], "sad").items()}
    with psycopg.connect(on_ray["FER_PG_DSN"]) as conn:
        conn.execute("TRUNCATE imagenes_fer, fer_vector_store")
    monkeypatch.setenv("FER_RAY_ADDRESS", cluster.address)
    result = run_partition("sad", job_name=EMBED_JOB)
    assert result.success
    meta = embeddings_metadata(result)
    assert meta["engine"] == "ray" and meta["ray_nodes"] == 3 and meta["ray_actors"] == "1-2"
    assert meta["ray_address"] == cluster.address and meta["embedded"] == len(expected)
    got = {path: vec for path, (_, _, vec) in table_rows(on_ray["FER_PG_DSN"], "sad").items()}
    assert got.keys() == expected.keys() and min(cosines(expected, got)) >= MIN_COSINE


def test_a_worker_node_killed_mid_partition_loses_and_repeats_nothing(on_ray, cluster, tmp_path, monkeypatch):
    emotion = big_partition(tmp_path, monkeypatch, 240)
    dsn = on_ray["FER_PG_DSN"]
    with killing(lambda: store_rows(dsn), cluster, ("worker1",)) as killed_at:
        result = run_partition(emotion, job_name=EMBED_JOB)
    assert killed_at and killed_at[0] < 240, f"the kill did not land mid-run: {killed_at}"
    assert result.success
    rows = table_rows(dsn, emotion)
    assert len(rows) == 240 and len({row_id for row_id, _, _ in rows.values()}) == 240
    assert embeddings_metadata(result)["failed"] == 0


DRIVER = "import sys; from fer_platform_tests.support.helpers import run_partition; run_partition(sys.argv[1])"


def test_the_driver_killed_resumes_from_every_committed_vector(on_ray, cluster, tmp_path, monkeypatch):
    emotion = big_partition(tmp_path, monkeypatch, 200)
    dsn = on_ray["FER_PG_DSN"]
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, emotion], env=dict(os.environ), start_new_session=True)
    deadline = time.monotonic() + 300
    while store_rows(dsn) == 0 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(30)
    committed = store_rows(dsn)
    assert 0 < committed < 200, f"the kill did not land mid-run: {committed} vectors stored"
    result = run_partition(emotion, job_name=EMBED_JOB)
    assert result.success
    meta = embeddings_metadata(result)
    assert meta["reused_vectors"] >= committed and meta["embedded"] == 200 - meta["reused_vectors"]
    assert len(table_rows(dsn, emotion)) == 200


def test_workers_read_images_straight_from_the_source_container(cluster, image_root, monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)  # only the workers hold the key
    container = f"az://src-{uuid.uuid4().hex[:10]}"
    files = sorted((image_root / "train" / "happy").iterdir())
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", cluster.env["AZURE_STORAGE_CONNECTION_STRING"])
    source = open_location(container)
    source.ensure()
    for path in files:
        source.fs.pipe_file(source.path(f"train/happy/{path.name}"), path.read_bytes())
    source.fs.pipe_file(source.path("train/happy/broken.png"), b"\x89PNG not really")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    urls = [f"{container}/train/happy/{path.name}" for path in files] + [f"{container}/train/happy/broken.png"]
    model = load_model("random", "cpu", "fp32")
    expected = embed_files(model, files, 8, 0)
    embedder = RayEmbedder(model.model_id, "random", "cpu", "fp32", 4, TEST_POOL)
    got, failures = {}, {}
    with connected(cluster.address):
        for result in embedder.stream(urls):
            got.update(zip(result.indices, result.vectors))
            failures.update(result.failures)
    assert sorted(got) == list(range(len(files))) and list(failures) == [len(files)]
    assert min(cosines(dict(zip(expected.indices, expected.vectors)), got)) >= MIN_COSINE


def test_landed_blobs_are_copied_and_scanned_by_the_workers(on_ray, cluster, image_root, monkeypatch):
    """Blobs that landed only in the source container reach the image root through the workers; the manifest
    hashed and decoded on the workers equals the in-process scan, and the run embeds every decodable landing."""
    container = f"az://src-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", cluster.env["AZURE_STORAGE_CONNECTION_STRING"])
    monkeypatch.setenv("FER_SOURCE_URL", container)
    source = open_location(container)
    source.ensure()
    faces = sorted((image_root / "test").glob("*/*"))[:3]  # three other faces, not in train/angry
    landings = {f"train/angry/landed{k}.png": face.read_bytes() for k, face in enumerate(faces)}
    landings["train/angry/broken.png"] = b"\x89PNG not really"
    for name, data in landings.items():
        source.fs.pipe_file(source.path(name), data)
    before = len(list((image_root / "train" / "angry").iterdir()))
    result = run_partition("angry", job_name=EMBED_JOB)
    assert result.success
    landed = asset_metadata(result, "landed_images")
    assert landed["engine"] == "ray" and landed["landed"] == 4 and landed["ray_address"] == cluster.address
    assert all((image_root / name).read_bytes() == data for name, data in landings.items())
    scanned = asset_metadata(result, "raw_images")
    assert scanned["engine"] == "ray" and scanned["files"] == before + 4 and scanned["failed"] == 1
    assert scanned["files_hashed"] == before + 4  # a first scan reads every file, on the workers
    with connected(cluster.address):
        describe = describe_on_ray(image_root, "angry", TEST_POOL)
        on_workers = scan_folder(image_root, "train", "angry", describe)
    assert on_workers.equals(scan_emotion(image_root, "train", "angry"))
    assert len(table_rows(on_ray["FER_PG_DSN"], "angry")) == before + 3


def test_emotion_model_trains_and_expression_vectors_run_on_the_cluster(on_ray, cluster, tmp_path, monkeypatch):
    root = tmp_path / "faces"
    write_sample_dataset(root, per_class=20, test_per_class=4, emotions=("angry", "happy", "sad"))
    for key, value in {"FER_IMAGE_ROOT": str(root), "FER_TRAIN_MAX_EPOCHS": "3"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FER_RAY_ADDRESS")
    with DagsterInstance.ephemeral() as instance:
        for emotion in ("angry", "happy", "sad"):
            assert run_partition(emotion, instance, SYNC_JOB).success
        monkeypatch.setenv("FER_RAY_ADDRESS", cluster.address)
        meta = trained_metadata(instance)
        assert meta["engine"] == "ray" and meta["ray_address"] == cluster.address and meta["epochs"] == 3
        on_cluster = run_partition("happy", instance, EXPRESSION_JOB)
        assert on_cluster.success and asset_metadata(on_cluster, "expression_vectors")["engine"] == "ray"
        assert asset_metadata(on_cluster, "expression_vectors")["computed"] == 20
        expected = expression_rows(on_ray["FER_REPLICA_DSN"], "happy")
        with psycopg.connect(on_ray["FER_REPLICA_DSN"]) as conn:
            conn.execute("TRUNCATE imagenes_fer_expression")
        monkeypatch.delenv("FER_RAY_ADDRESS")
        in_process = run_partition("happy", instance, EXPRESSION_JOB)
        assert asset_metadata(in_process, "expression_vectors")["engine"] == "in_process"
    got = expression_rows(on_ray["FER_REPLICA_DSN"], "happy")
    assert got.keys() == expected.keys() and len(got) == 20 and min(cosines(expected, got)) >= MIN_COSINE


def test_a_stalled_pipeline_stops_within_its_limit_and_leaves_nothing_running(cluster):
    """No first batch within the start-up allowance (the limit of a first batch; later ones get FER_RAY_STALL_S):
    the step fails within it, naming the setting, and the runner (and the tasks it owns) is stopped."""
    pool = Pool(actors=(1, 1), tasks=3, gpus_per_actor=0.0, stall_s=2, startup_s=5)
    started = time.monotonic()
    with connected(cluster.address):
        with pytest.raises(RayStallError, match=r"no progress for 5 s \(FER_RAY_STARTUP_S\)"):
            list(task_pipeline({"n": np.arange(3)}, sleepy, 1, pool, "the test pipeline", seconds=120))
        waited = time.monotonic() - started
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(runner["State"] != "DEAD" for runner in runners()):
            time.sleep(0.5)
        left = [runner["State"] for runner in runners()]
    assert waited < 30 and left and set(left) == {"DEAD"}


@pytest.mark.parametrize("step", ["landed_images", "raw_images"])
def test_a_worker_node_killed_while_landing_or_scanning_lands_and_scans_every_image_once(
    on_ray, cluster, tmp_path, monkeypatch, step
):
    faces = tmp_path / "faces"
    write_sample_dataset(faces, per_class=400, test_per_class=1, emotions=("angry",))
    root = tmp_path / "root"
    (root / "train" / "angry").mkdir(parents=True)
    container = f"az://src-{uuid.uuid4().hex[:10]}"
    for key, value in {"FER_IMAGE_ROOT": str(root), "FER_SOURCE_URL": container,
                       "AZURE_STORAGE_CONNECTION_STRING": cluster.env["AZURE_STORAGE_CONNECTION_STRING"]}.items():
        monkeypatch.setenv(key, value)
    source = open_location(container)
    source.ensure()
    landings = {f"train/angry/{p.name}": p.read_bytes() for p in (faces / "train" / "angry").iterdir()}
    for name, data in landings.items():
        source.fs.pipe_file(source.path(name), data)
    with DagsterInstance.ephemeral() as instance:
        with killing(lambda: step_running(instance, step) and time.sleep(0.5) is None, cluster, ("worker1",)) as fired:
            result = run_partition("angry", instance, EMBED_JOB)
    assert fired, f"the kill did not land during {step}"
    assert result.success
    assert all((root / name).read_bytes() == data for name, data in landings.items())
    assert asset_metadata(result, "raw_images")["files"] == 400
    rows = table_rows(on_ray["FER_PG_DSN"], "angry")
    assert set(rows) == set(landings) and len({row_id for row_id, _, _ in rows.values()}) == 400


def test_a_worker_node_killed_mid_training_resumes_from_its_last_checkpoint(on_ray, cluster, tmp_path, monkeypatch):
    root = tmp_path / "faces"
    write_sample_dataset(root, per_class=150, test_per_class=4, emotions=("angry", "happy", "sad"))
    for key, value in {"FER_IMAGE_ROOT": str(root), "FER_TRAIN_MAX_EPOCHS": "8"}.items():
        monkeypatch.setenv(key, value)
    runs = tmp_path / "home" / "lake" / "models" / "emotion_model" / "_runs"
    # the training task's node is not visible from here: both workers go, and come back
    with killing(lambda: any(runs.glob("*/*")), cluster, ("worker0", "worker1")) as fired:
        with DagsterInstance.ephemeral() as instance:
            meta = trained_metadata(instance)
    assert fired, "the kill did not land mid-training"
    assert meta["engine"] == "ray" and meta["resumed_from_epoch"] >= 1 and meta["epochs"] == 8
