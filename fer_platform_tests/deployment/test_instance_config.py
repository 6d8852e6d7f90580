"""dagster.yaml's run queue, per-emotion limit and embedding pool, applied by Dagster's own code to a real
instance on PostgreSQL: the queued-run daemon's choice of what to start, and the step executor's slot claims."""

import time

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from fer_platform.definitions import build_definitions
from fer_platform.defs.embeddings.assets import EMBEDDING_POOL
from fer_platform.orchestration.names import PIPELINE_JOB
from fer_platform.settings import load_settings
from fer_platform_tests.support.servers.deployment import instance_home

pytestmark = pytest.mark.slow  # Dagster's queued-run daemon on a PostgreSQL instance


@pytest.fixture
def instance(tmp_path, dagster_pg_url, monkeypatch):
    """The instance a deployment runs: the repository's dagster.yaml, storage on a real PostgreSQL database."""
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url)
    with DagsterInstance.from_config(str(instance_home(tmp_path / "dagster_home"))) as inst:
        yield inst


# Where a deployment's runs come from: the code server of docker-compose.yml (location fer_platform).
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(GrpcServerCodeLocationOrigin("code", 4000, location_name="fer_platform"), "__repository__"),
    PIPELINE_JOB,
)


def run_of(instance: DagsterInstance, emotion: str, status: DagsterRunStatus) -> str:
    """A run of one emotion's partition, as the sensor or a backfill submits it."""
    tags = {"dagster/partition": emotion}
    return create_run_for_test(
        instance, job_name=PIPELINE_JOB, status=status, tags=tags, remote_job_origin=ORIGIN
    ).run_id


def to_start(instance: DagsterInstance) -> list[str]:
    """The queued runs the daemon would start now, in order: what `dagster-daemon run` decides each tick."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    return [run.run_id for run in daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)]


def test_the_queue_starts_two_runs_and_never_two_of_one_emotion(instance):
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    happy = [run_of(instance, "happy", DagsterRunStatus.QUEUED) for _ in range(3)]
    sad = run_of(instance, "sad", DagsterRunStatus.QUEUED)
    angry = run_of(instance, "angry", DagsterRunStatus.QUEUED)
    assert to_start(instance) == [happy[0], sad]  # two at a time; the other happy runs wait for the first
    assert angry not in to_start(instance)


def test_a_running_emotion_holds_back_its_queued_runs(instance):
    run_of(instance, "happy", DagsterRunStatus.STARTED)
    queued_happy = run_of(instance, "happy", DagsterRunStatus.QUEUED)
    sad = run_of(instance, "sad", DagsterRunStatus.QUEUED)
    assert to_start(instance) == [sad]  # one slot left, and happy is taken
    run_of(instance, "angry", DagsterRunStatus.STARTED)
    assert to_start(instance) == []  # two runs in progress: nothing more starts
    assert queued_happy not in to_start(instance)


def claims_within(context: InstanceConcurrencyContext, seconds: float) -> bool:
    """Ask for the embedding slot as the step executor does, until it is granted or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not context.claim(EMBEDDING_POOL, "embeddings_table"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_one_embedding_step_at_a_time_in_the_pool(instance, fer_env):
    nodes = build_definitions(load_settings()).resolve_job_def(PIPELINE_JOB).graph.nodes
    assert {node.name for node in nodes if node.definition.pool == EMBEDDING_POOL} == {"embeddings_table"}
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    first = create_run_for_test(instance, job_name=PIPELINE_JOB, status=DagsterRunStatus.STARTED)
    second = create_run_for_test(instance, job_name=PIPELINE_JOB, status=DagsterRunStatus.STARTED)
    with InstanceConcurrencyContext(instance, first) as a, InstanceConcurrencyContext(instance, second) as b:
        assert a.claim(EMBEDDING_POOL, "embeddings_table")  # the executor's claim, as a step starts
        assert not b.claim(EMBEDDING_POOL, "embeddings_table")  # the other run's step waits
        a.free_step("embeddings_table")
        assert claims_within(b, seconds=10)  # the executor asks again after a back-off; now it gets the slot
