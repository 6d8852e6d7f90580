"""A platform with data in it: every stage, the index, a classifier, a promoted emotion_model and its expression
vectors. ``search_env``: built for the module (tests that change it); ``shared_search_env``: one built per session,
for the modules that only read it."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance

from fer_platform.definitions import build_definitions
from fer_platform.orchestration.names import CLASSIFIER_JOB, EMOTION_MODEL_JOB, EXPRESSION_JOB, INDEX_JOB, PIPELINE_JOB
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings
from fer_platform_tests.support.constants import TEST_EMOTIONS
from fer_platform_tests.support.helpers import run_partition
from fer_platform_tests.support.servers.databases import create_database

API_KEY = "test-key-0123456789"
UNSET = (
    "FER_SPLIT",
    "FER_NUM_WORKERS",
    "FER_SOURCE_URL",
    "FER_LAKE_URL",
    "FER_CLASSIFIER_VERSION",
    "FER_MODEL_VERSION",
)


def populate(pg_server_uri: str, replica_server_uri: str, work: Path) -> dict[str, str]:
    """Build a populated platform (3 emotions x 30 train images, 4 test images each, random weights) under
    ``work``; returns its env (set only while building)."""
    write_sample_dataset(work / "images", per_class=30, test_per_class=4, emotions=TEST_EMOTIONS)
    env = {
        "FER_HOME": str(work / "home"),
        "FER_IMAGE_ROOT": str(work / "images"),
        "FER_PG_DSN": create_database(pg_server_uri),
        "FER_REPLICA_DSN": create_database(replica_server_uri),
        "FER_WEIGHTS": "random",
        "FER_DEVICE": "cpu",
        "FER_BATCH_SIZE": "16",
        "FER_API_KEY": API_KEY,
        "FER_TRAIN_MAX_EPOCHS": "15",
        # The paper's augmentation, asked for through the setting: the fitted floor (0.25) is a coin toss at 15
        # epochs on these faces (4 seeds: 0.43 vs 0.47 mean test accuracy, both near chance on some seeds).
        "FER_TRAIN_AUGMENT_STRENGTH": "1.0",
    }
    with environment(env), DagsterInstance.ephemeral() as instance:
        for emotion in TEST_EMOTIONS:
            assert run_partition(emotion, instance, PIPELINE_JOB).success
        defs = build_definitions(load_settings())
        for job in (INDEX_JOB, CLASSIFIER_JOB, EMOTION_MODEL_JOB):
            assert defs.resolve_job_def(job).execute_in_process(instance=instance).success
        for emotion in TEST_EMOTIONS:
            assert run_partition(emotion, instance, EXPRESSION_JOB).success
    return env


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """The process environment with ``env`` set and the settings a test machine may carry unset."""
    with pytest.MonkeyPatch.context() as patch:
        for key in UNSET:
            patch.delenv(key, raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        yield


@pytest.fixture(scope="module")
def search_env(
    pg_server_uri: str, replica_server_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A populated platform of the module's own, for tests that change it (promote, register, damage)."""
    env = populate(pg_server_uri, replica_server_uri, tmp_path_factory.mktemp("search"))
    with environment(env):
        yield env


@pytest.fixture(scope="session")
def shared_platform(pg_server_uri: str, replica_server_uri: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One populated platform for every module that only reads it (built once per session)."""
    return populate(pg_server_uri, replica_server_uri, tmp_path_factory.mktemp("shared-search"))


@pytest.fixture(scope="module")
def shared_search_env(shared_platform: dict[str, str]) -> Iterator[dict[str, str]]:
    """The shared populated platform's env, set for the module: its tests must leave the platform as they
    found it (a row a test adds, it removes)."""
    with environment(shared_platform):
        yield shared_platform
