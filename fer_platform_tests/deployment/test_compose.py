"""The deployment: docker-compose.yml is valid, and its Dagster services, started by hand from it,
embed images dropped into a folder by themselves (sensor -> run -> replica -> lake -> checks)."""

import shutil
import subprocess
import time

import psycopg
import pytest

from fer_platform.definitions import build_definitions
from fer_platform.lake.delta import embeddings_target, read_partition
from fer_platform.orchestration.names import PIPELINE_STAGES
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform_tests.support.helpers import table_rows
from fer_platform_tests.support.servers.deployment import (
    COMPOSE,
    graphql,
    platform_env,
    running_platform,
    sensor_runs,
    sensor_state,
    service_env_names,
    set_sensor_cursor,
    wait_for_runs,
)

pytestmark = pytest.mark.slow  # the compose file's own dagster commands and the daemon

COMPOSE_TOOLS = (["docker", "compose"], ["docker-compose"])


def compose_tool() -> list[str]:
    for tool in COMPOSE_TOOLS:
        if subprocess.run([*tool, "version"], capture_output=True, check=False).returncode == 0:
            return tool
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (bin/setup installs it)")


def test_compose_file_is_valid_and_names_every_service():
    env = {"FER_DB_PASSWORD": "x", "DAGSTER_DB_PASSWORD": "y", "FER_API_KEY": "z", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [*compose_tool(), "-f", str(COMPOSE), "config", "--services"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    expected = {"source-db", "replica-db", "dagster-db", "azurite", "code", "webserver", "daemon", "search"}
    expected |= {"ray-head", "ray-worker"}
    assert set(proc.stdout.split()) == expected


def test_compose_refuses_to_start_without_passwords():
    proc = subprocess.run(
        [*compose_tool(), "-f", str(COMPOSE), "config", "-q"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "set FER_DB_PASSWORD" in proc.stderr + proc.stdout


LATEST_CHECK = """
query($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 1) { runId status } }
"""
CHECK_RUN = """
query($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, partition: "happy", limit: 1) { runId status } }
"""
MATERIALIZATIONS = """
query($runId: ID!) { runOrError(runId: $runId) { ... on Run {
  assetMaterializations { assetKey { path } metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }
"""


def wait_for_check(url: str, asset: str, check: str, timeout: float) -> str:
    """The status of the first finished execution of an unpartitioned check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = graphql(url, LATEST_CHECK, key={"path": [asset]}, check=check)["assetCheckExecutions"]
        if found and found[0]["status"] not in ("IN_PROGRESS", "PLANNED"):
            return found[0]["status"]
        time.sleep(1)
    raise TimeoutError(f"{asset}.{check} did not run within {timeout:.0f} s")


def embeddings_count(url: str, run_id: str, label: str) -> int:
    """One integer of the run's embeddings_table materialization metadata."""
    run = graphql(url, MATERIALIZATIONS, runId=run_id)["runOrError"]
    [entries] = [
        m["metadataEntries"] for m in run["assetMaterializations"] if m["assetKey"]["path"] == ["embeddings_table"]
    ]
    return next(e["intValue"] for e in entries if e["label"] == label)


def assert_a_rewound_cursor_starts_nothing(url: str, cursor: str) -> None:
    """Rewound to ``cursor`` (as when a cursor write is lost), the sensor asks for nothing: the folder's mark,
    stored by the run that read it, says so, whatever the cursor remembers."""
    known = {r["runId"] for r in sensor_runs(url)}
    set_sensor_cursor(url, cursor)
    last_tick = max(int(t["tickId"]) for t in sensor_state(url)[1])
    deadline = time.monotonic() + 60
    while sum(int(t["tickId"]) > last_tick for t in sensor_state(url)[1]) < 2:
        assert time.monotonic() < deadline, "the sensor stopped ticking"
        time.sleep(0.5)
    later = [t for t in sensor_state(url)[1] if int(t["tickId"]) > last_tick]
    assert all(t["runKeys"] == [] for t in later), later
    assert {r["runId"] for r in sensor_runs(url)} == known  # two ticks later, still no new run


def test_images_dropped_in_a_folder_are_embedded_by_the_daemon(azure_env, image_root, dagster_pg_url, tmp_path):
    for other in ("angry", "sad"):
        shutil.rmtree(image_root / "train" / other)
    env = platform_env(azure_env, dagster_pg_url, tmp_path)
    for service in ("code", "webserver", "daemon"):
        assert service_env_names(service) <= set(env), service
    with running_platform(env, tmp_path / "logs") as url:
        [first] = wait_for_runs(url, set(), 1, timeout=300)  # a fresh cursor: the folder is news
        assert first["status"] == "SUCCESS"
        assert {"key": "dagster/partition", "value": "happy"} in first["tags"]
        before_change, _ = sensor_state(url)
        for i in range(2):
            shutil.copy(image_root / "train" / "happy" / "im0.png", image_root / "train" / "happy" / f"new_{i}.png")
        [second] = wait_for_runs(url, {first["runId"]}, 1, timeout=300)
        assert second["status"] == "SUCCESS"
        # Only the new images; they are copies of a stored image, so their vector comes from the store.
        assert embeddings_count(url, second["runId"], "new") == 2
        assert embeddings_count(url, second["runId"], "reused_vectors") == 2
        assert embeddings_count(url, second["runId"], "embedded") == 0
        defs = build_definitions(load_settings())
        for check in defs.resolve_asset_graph().asset_check_keys:
            if check.asset_key.to_user_string() not in PIPELINE_STAGES:
                continue
            execution = graphql(url, CHECK_RUN, key={"path": list(check.asset_key.path)}, check=check.name)[
                "assetCheckExecutions"
            ][0]
            assert execution == {"runId": second["runId"], "status": "SUCCEEDED"}, check.name
        assert_a_rewound_cursor_starts_nothing(url, before_change)
        # search_index_automation then brings the HNSW index up to date, and its recall check passes.
        assert wait_for_check(url, "vector_index", "recall_at_10", timeout=180) == "SUCCEEDED"
    replica = table_rows(azure_env["FER_REPLICA_DSN"], "happy")
    assert {"train/happy/new_0.png", "train/happy/new_1.png"} <= set(replica) and len(replica) == 6
    lake = embeddings_target(open_location(azure_env["FER_LAKE_URL"]))
    exported = read_partition(lake, "happy", columns=["filepath"])
    assert "raw/images/fer2013/train/happy/new_1.png" in exported["filepath"].to_list()


TERMINATE = """
mutation($runId: String!) { terminateRun(runId: $runId) { __typename ... on PythonError { message } } }
"""


def count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()[0]


@pytest.mark.timeout(900)
def test_terminating_a_run_stops_between_batches_and_keeps_the_stored_chunks(
    azure_env, image_root, dagster_pg_url, tmp_path
):
    for emotion in ("angry", "sad", "happy"):
        shutil.rmtree(image_root / "train" / emotion)
    write_sample_dataset(image_root / "big", per_class=400, test_per_class=0, emotions=("happy",))
    shutil.move(image_root / "big" / "train" / "happy", image_root / "train" / "happy")
    env = platform_env(azure_env, dagster_pg_url, tmp_path)
    dsn = env["FER_PG_DSN"]
    with running_platform(env, tmp_path / "logs") as url:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the sensor's run is embedding: its first chunk is stored
            runs = sensor_runs(url)
            if runs and count(dsn, "SELECT to_regclass('fer_vector_store') IS NOT NULL"):
                if count(dsn, "SELECT count(*) FROM fer_vector_store") > 0:
                    break
            time.sleep(0.2)
        [run] = sensor_runs(url)
        asked = time.monotonic()
        assert graphql(url, TERMINATE, runId=run["runId"])["terminateRun"]["__typename"] == "TerminateRunSuccess"
        [done] = wait_for_runs(url, set(), 1, timeout=120)
        assert done["status"] == "CANCELED"
        assert time.monotonic() - asked < 30  # stopped between batches, not after the partition
        stored = count(dsn, "SELECT count(*) FROM fer_vector_store")
        assert 0 < stored < 400  # the committed chunks are kept
        assert count(dsn, "SELECT count(*) FROM imagenes_fer WHERE emotion = 'happy'") == 0  # the table as it was
