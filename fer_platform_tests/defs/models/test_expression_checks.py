"""expression_vectors_complete on a populated platform: passes after a real materialization, fails with the
right counts when a stored image has no vector, a vector has no stored image, or a vector is of another
version. Each test works on its own copy of the shared platform's replica (what it breaks, nobody else reads)."""

from collections.abc import Iterator

import psycopg
import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance, Definitions, define_asset_job

from fer_platform.definitions import build_definitions
from fer_platform.factory import Platform
from fer_platform.models.lifecycle.registry import EMOTION_MODEL
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS, register_emotions
from fer_platform.settings import load_settings
from fer_platform.table.expression import EXPRESSION_TABLE
from fer_platform_tests.support.helpers import check_results, run_partition
from fer_platform_tests.support.servers.databases import copy_database

CHECK = AssetCheckKey(AssetKey(names.EXPRESSION_VECTORS), names.EXPRESSION_VECTORS_COMPLETE)
CHECK_JOB = "check_expression_vectors"
NEW_IMAGE = "train/happy/not_embedded.png"
GONE_IMAGE = "train/happy/no_longer_stored.png"


def check_only(emotion: str) -> dict:
    """Run the check alone (no materialization, which would repair what the tests break) on the real
    definitions: passed and metadata as plain values."""
    job = define_asset_job(CHECK_JOB, selection=AssetSelection.checks(CHECK), partitions_def=EMOTION_PARTITIONS)
    defs = Definitions.merge(build_definitions(load_settings()), Definitions(jobs=[job]))
    with DagsterInstance.ephemeral() as instance:
        register_emotions(instance, [emotion])
        # a run of checks alone selects no asset to take the partition from: it is given as the run's tag
        result = defs.resolve_job_def(CHECK_JOB).execute_in_process(
            instance=instance, tags={"dagster/partition": emotion}, raise_on_error=False
        )
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.partition == emotion
    return {"passed": evaluation.passed} | {k: v.value for k, v in evaluation.metadata.items()}


@pytest.fixture
def replica(shared_search_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    """A copy of the shared replica, which the definitions of the test use (FER_REPLICA_DSN)."""
    copy = copy_database(shared_search_env["FER_REPLICA_DSN"])
    monkeypatch.setenv("FER_REPLICA_DSN", copy)
    with psycopg.connect(copy, autocommit=True) as conn:
        yield conn


def test_passes_after_a_real_materialization(shared_search_env: dict[str, str], replica: psycopg.Connection) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = run_partition("happy", instance, names.EXPRESSION_JOB)
    assert result.success and check_results(result)[names.EXPRESSION_VECTORS_COMPLETE] is True
    stored = replica.execute("SELECT count(*) FROM imagenes_fer WHERE emotion = 'happy'").fetchone()[0]
    meta = check_only("happy")
    promoted = Platform(load_settings()).model_registry(EMOTION_MODEL).promoted()
    assert meta["passed"] is True and meta["served_version"] == promoted
    assert (meta["replica_rows"], meta["vectors"], meta["missing"], meta["extra"]) == (stored, stored, 0, 0)
    assert meta["not_served_version"] == 0 and stored > 0


def test_fails_for_a_stored_image_without_its_vector(shared_search_env: dict[str, str], replica) -> None:
    replica.execute(
        "INSERT INTO imagenes_fer (filepath, emotion, vector) "
        "SELECT %s, emotion, vector FROM imagenes_fer WHERE emotion = 'happy' LIMIT 1",
        (NEW_IMAGE,),
    )
    meta = check_only("happy")
    assert meta["passed"] is False
    assert (meta["missing"], meta["extra"], meta["not_served_version"]) == (1, 0, 0)
    assert meta["replica_rows"] == meta["vectors"] + 1 and meta["missing_examples"] == [NEW_IMAGE]
    replica.execute("DELETE FROM imagenes_fer WHERE filepath = %s", (NEW_IMAGE,))
    assert check_only("happy")["passed"] is True  # repaired, it passes again


def test_fails_for_a_vector_of_another_version_and_one_of_an_image_no_longer_stored(
    shared_search_env: dict[str, str], replica
) -> None:
    table = EXPRESSION_TABLE
    [(path,)] = replica.execute(f"SELECT min(filepath) FROM {table} WHERE emotion = 'happy'").fetchall()
    replica.execute(f"UPDATE {table} SET model_version = 'v0999' WHERE filepath = %s", (path,))
    replica.execute(
        f"INSERT INTO {table} (filepath, emotion, model_version, content_sha256, vector) "
        f"SELECT %s, emotion, model_version, content_sha256, vector FROM {table} WHERE filepath = %s",
        (GONE_IMAGE, path),
    )
    meta = check_only("happy")
    assert meta["passed"] is False
    assert (meta["missing"], meta["extra"], meta["not_served_version"]) == (0, 1, 2)
    assert meta["vectors"] == meta["replica_rows"] + 1
    assert meta["extra_examples"] == [GONE_IMAGE] and sorted(meta["not_served_examples"]) == sorted([path, GONE_IMAGE])
    assert check_only("sad")["passed"] is True  # one partition's fault fails only that partition
