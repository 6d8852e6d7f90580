"""Shared fixtures: a real embedded PostgreSQL + pgvector, per-test databases, sample images."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from fer_platform.postgres.embedded import embedded_server
from fer_platform.sample_data import write_sample_dataset
from fer_platform_tests.support.constants import TEST_EMOTIONS
from fer_platform_tests.support.servers.azurite import start_azurite
from fer_platform_tests.support.servers.databases import create_database, dagster_storage_url
from fer_platform_tests.support.servers.netns import interrupt_isolated, start_isolated

pytest_plugins = ["fer_platform_tests.support.populated"]  # `search_env` and `shared_search_env`: populated platforms


@pytest.fixture(scope="session")
def pg_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real PostgreSQL 18 + pgvector server for the whole session: it holds the source databases."""
    server = embedded_server(tmp_path_factory.mktemp("pg") / "data")
    yield server.get_uri()


@pytest.fixture(scope="session")
def replica_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second server process (its own data folder and socket) standing in for Azure's server.

    Replicas live here, so dumps, restores and syncs cross a real server boundary as they do in production.
    """
    server = embedded_server(tmp_path_factory.mktemp("pg_replica") / "data")
    yield server.get_uri()


def database_factory(server_uri: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases on ``server_uri``, all dropped afterwards."""
    names: list[str] = []

    def create() -> str:
        dsn = create_database(server_uri)
        names.append(conninfo_to_dict(dsn)["dbname"])
        return dsn

    yield create
    with psycopg.connect(server_uri, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def make_database(pg_server_uri: str) -> Iterator[Callable[[], str]]:
    """Fresh databases on the source server."""
    yield from database_factory(pg_server_uri)


@pytest.fixture
def make_replica_database(replica_server_uri: str) -> Iterator[Callable[[], str]]:
    """Fresh databases on the replica server."""
    yield from database_factory(replica_server_uri)


@pytest.fixture
def pg_dsn(make_database: Callable[[], str]) -> str:
    """The source database."""
    return make_database()


@pytest.fixture
def replica_dsn(make_replica_database: Callable[[], str]) -> str:
    """The replica database, on the second server process."""
    return make_replica_database()


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """A small synthetic FER-layout folder: 3 emotions, 4 train and 1 test image each."""
    root = tmp_path / "images"
    write_sample_dataset(root, per_class=4, test_per_class=1, emotions=TEST_EMOTIONS)
    return root


@pytest.fixture
def fer_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, image_root: Path, pg_dsn: str, replica_dsn: str
) -> dict[str, str]:
    """Environment of a platform on the test database and images, with untrained weights."""
    env = {
        "FER_HOME": str(tmp_path / "home"),
        "FER_IMAGE_ROOT": str(image_root),
        "FER_PG_DSN": pg_dsn,
        "FER_REPLICA_DSN": replica_dsn,
        "FER_WEIGHTS": "random",
        "FER_DEVICE": "cpu",
        "FER_BATCH_SIZE": "4",
    }
    for key in ("FER_SPLIT", "FER_NUM_WORKERS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env




@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Azurite serving Blob and Queue on loopback; yields the connection string of both."""
    try:
        proc, conn_str = start_azurite(tmp_path_factory.mktemp("azurite"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield conn_str
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["local", "azurite"])
def lake_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A lake root, once as a local folder and once in a fresh Azurite container."""
    if request.param == "local":
        return str(tmp_path / "lake")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", request.getfixturevalue("azurite"))
    return f"az://lake-{uuid.uuid4().hex[:12]}/root"


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch, fer_env: dict[str, str], azurite: str) -> dict[str, str]:
    """fer_env with the source container and the lake on Azurite, in fresh containers."""
    suffix = uuid.uuid4().hex[:10]
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
        "FER_SOURCE_URL": f"az://src-{suffix}",
        "FER_LAKE_URL": f"az://lake-{suffix}/fer",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return fer_env | env


@pytest.fixture
def dagster_pg_url(make_database: Callable[[], str]) -> str:
    """A fresh database for Dagster's own storage, as a URL (dagster-postgres hands it to SQLAlchemy)."""
    return dagster_storage_url(make_database())


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that take an isolated suite's result run last: the suites run beside the others meanwhile."""
    items.sort(key=lambda item: item.get_closest_marker("isolated_suite") is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the isolated suites of the selected tests (``netns.start_isolated``)."""
    option = session.config.option
    if not any(getattr(option, name, False) for name in ("collectonly", "setupplan", "setuponly", "showfixtures")):
        markers = (item.get_closest_marker("isolated_suite") for item in session.items)
        start_isolated([Path(marker.args[0]) for marker in markers if marker is not None])


def pytest_sessionfinish(session: pytest.Session) -> None:
    interrupt_isolated()
