"""The platform driven from another host, as the shipped deployments drive it: the Ray head and two 1-CPU worker
nodes on the cluster's host, the Dagster step on the driver's host with no Ray node, joined only by a virtual link
(``two_hosts.ClusterHost``), through the address form the README ships (Ray Client, ``ray://head:10001``).

Not collected on its own (no ``test_`` prefix): ``test_two_hosts.py`` runs it inside a network namespace of its
own, the driver's host. One cluster serves the whole module.
"""

import os
import time
import uuid

import pytest
from dagster import DagsterInstance

from fer_platform.orchestration.names import EMBED_JOB, EXPRESSION_JOB, SYNC_JOB
from fer_platform.ray_cluster.connection import RayUnavailableError, connected
from fer_platform.sample_data import write_sample_dataset
from fer_platform.storage.location import open_location
from fer_platform_tests.support.helpers import (
    asset_metadata,
    embeddings_metadata,
    run_partition,
    table_rows,
    trained_metadata,
)
from fer_platform_tests.support.servers.azurite import start_azurite
from fer_platform_tests.support.servers.deployment import free_port
from fer_platform_tests.support.servers.ray_nodes import killing, running_cluster, store_rows
from fer_platform_tests.support.servers.two_hosts import CLUSTER_IP, DRIVER_IP, ClusterHost

EMOTIONS = ("angry", "happy", "sad")
CONNECT_BOUND_S = 60


@pytest.fixture(scope="module")
def host():
    """The cluster's host, linked to this one (the driver's)."""
    cluster_host = ClusterHost()
    cluster_host.start()
    yield cluster_host
    cluster_host.stop()


@pytest.fixture(scope="module")
def azurite(tmp_path_factory, host):
    """Azurite on the driver's end of the link: the workers on the other host reach it as Azure Storage."""
    proc, conn_str = start_azurite(tmp_path_factory.mktemp("azurite"), host=DRIVER_IP)
    yield conn_str
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, host, azurite, pg_server_uri, replica_server_uri):
    """Head + two worker nodes on the cluster's host; this host (the driver's) runs no Ray node. The embedded
    PostgreSQL servers start first: an initdb forked after a Ray Client connection has left gRPC threads in
    this process crashed once (SIGSEGV), whichever test the random order put first."""
    with running_cluster(tmp_path_factory.mktemp("ray"), azurite, host_ip=CLUSTER_IP, prefix=host.prefix) as nodes:
        yield nodes


@pytest.fixture
def faces(cluster, fer_env, azurite, tmp_path, monkeypatch):
    """Three emotions of generated faces, a source container, and FER_RAY_ADDRESS = the head's Ray Client."""
    root = tmp_path / "faces"
    write_sample_dataset(root, per_class=20, test_per_class=4, emotions=EMOTIONS)
    container = f"az://src-{uuid.uuid4().hex[:10]}"
    for key, value in {
        "FER_IMAGE_ROOT": str(root), "AZURE_STORAGE_CONNECTION_STRING": azurite, "FER_SOURCE_URL": container,
        "FER_RAY_ADDRESS": cluster.client_address, "FER_RAY_ACTORS": "1,2", "FER_BATCH_SIZE": "8",
        "FER_TRAIN_MAX_EPOCHS": "2",
    }.items():
        monkeypatch.setenv(key, value)
    open_location(container).ensure()
    return root


def land(container: str, root, count: int) -> list[str]:
    """``count`` faces of test/ uploaded to the source container as new train/angry images."""
    source = open_location(container)
    names = []
    for k, face in enumerate(sorted((root / "test").glob("*/*"))[:count]):
        names.append(f"train/angry/landed{k}.png")
        source.fs.pipe_file(source.path(names[-1]), face.read_bytes())
    return names


def one_row_per_image(dsn: str, root, emotion: str) -> int:
    rows = table_rows(dsn, emotion)
    files = {f"train/{emotion}/{p.name}" for p in (root / "train" / emotion).iterdir()}
    assert set(rows) == files and len({row_id for row_id, _, _ in rows.values()}) == len(files)
    return len(rows)


def test_every_stage_runs_through_ray_client_from_another_host(faces, cluster, fer_env, tmp_path, monkeypatch):
    # a lake of this test's own: no champion from elsewhere can hold back a 2-epoch model of 60 faces (CI saw one)
    monkeypatch.setenv("FER_LAKE_URL", str(tmp_path / f"lake-{uuid.uuid4().hex[:8]}"))
    landed = land(os.environ["FER_SOURCE_URL"], faces, 3)
    with DagsterInstance.ephemeral() as instance:
        for emotion in EMOTIONS:
            result = run_partition(emotion, instance, SYNC_JOB)
            assert result.success
            for asset in ("landed_images", "raw_images", "embeddings_table"):
                meta = asset_metadata(result, asset)
                assert meta["engine"] == "ray" and meta["ray_address"] == cluster.client_address, (asset, meta)
            assert one_row_per_image(fer_env["FER_PG_DSN"], faces, emotion) == 20 + 3 * (emotion == "angry")
        assert all((faces / name).exists() for name in landed)
        meta = trained_metadata(instance)
        assert meta["engine"] == "ray" and meta["ray_address"] == cluster.client_address and meta["epochs"] == 2
        expressions = run_partition("happy", instance, EXPRESSION_JOB)
        assert expressions.success
        meta = asset_metadata(expressions, "expression_vectors")
        assert meta["engine"] == "ray" and meta["computed"] == 20 and meta["ray_address"] == cluster.client_address


def test_a_worker_killed_mid_embedding_through_ray_client_loses_and_repeats_nothing(faces, cluster, fer_env):
    root = faces.parent / "many"
    write_sample_dataset(root, per_class=240, test_per_class=1, emotions=("happy",))
    os.environ["FER_IMAGE_ROOT"] = str(root)  # monkeypatch (in faces) restores it
    dsn = fer_env["FER_PG_DSN"]
    with killing(lambda: store_rows(dsn), cluster, ("worker1",)) as killed_at:
        result = run_partition("happy", job_name=EMBED_JOB)
    assert killed_at and killed_at[0] < 240, f"the kill did not land mid-run: {killed_at}"
    assert result.success and embeddings_metadata(result)["failed"] == 0
    assert one_row_per_image(dsn, root, "happy") == 240


@pytest.mark.parametrize(
    "address, says",
    [
        (f"{CLUSTER_IP}:{{gcs}}", "this host runs no Ray node"),  # the GCS form, from a host with no Ray node
        (f"ray://{CLUSTER_IP}:{{closed}}", "does not answer"),  # nothing listens there
        (f"ray://{CLUSTER_IP}:{{gcs}}", "cannot connect"),  # a Ray port, but not the Ray Client's
    ],
)
def test_a_wrong_or_unreachable_address_fails_within_a_bound_naming_it(cluster, address, says):
    address = address.format(gcs=cluster.port, closed=free_port())
    started = time.monotonic()
    with pytest.raises(RayUnavailableError, match=says) as refused:
        with connected(address, timeout_s=10):
            pass
    assert time.monotonic() - started < CONNECT_BOUND_S
    assert address in str(refused.value)
