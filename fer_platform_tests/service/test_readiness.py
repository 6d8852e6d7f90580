"""``serve`` checks the replica before it starts; a database lost at run time is a 503 JSON within seconds."""

import time

import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from fer_platform.service.app import create_app
from fer_platform.service.readiness import ServiceNotReadyError, model_problem
from fer_platform.settings import load_settings
from fer_platform_tests.support.servers.deployment import free_port
from fer_platform_tests.support.service.hostile import encoded, face

PASSWORD = "s3cret-never-shown"


@pytest.fixture
def keyed(fer_env, monkeypatch):
    monkeypatch.setenv("FER_API_KEY", "k")


def with_password(dsn: str) -> str:
    return make_conninfo(dsn, password=PASSWORD)  # the embedded server trusts local sockets: accepted, unused


def test_an_empty_replica_refuses_to_start_naming_the_fix(keyed, replica_dsn, monkeypatch):
    monkeypatch.setenv("FER_REPLICA_DSN", with_password(replica_dsn))
    with pytest.raises(ServiceNotReadyError) as refused:
        create_app(load_settings())
    message = str(refused.value)
    assert "has no vector extension" in message and "materialize azure_replica" in message and "--wait" in message
    assert conninfo_to_dict(replica_dsn)["dbname"] in message and PASSWORD not in message


@pytest.mark.slow  # waits out the retries
def test_an_unreachable_replica_refuses_to_start_or_waits_with_a_503(keyed, monkeypatch):
    monkeypatch.setenv("FER_REPLICA_DSN", f"host=127.0.0.1 port={free_port()} dbname=fer user=u password={PASSWORD}")
    started = time.monotonic()
    with pytest.raises(ServiceNotReadyError, match="is unreachable"):
        create_app(load_settings())
    assert time.monotonic() - started < 15
    with TestClient(create_app(load_settings(), wait=True)) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and "is unreachable" in health.json()["reason"]
        started = time.monotonic()
        image = encoded(face(), "PNG")
        response = client.post("/search", files={"file": image}, headers={"Authorization": "Bearer k"})
        assert response.status_code == 503 and response.headers["retry-after"]
        assert "is unavailable" in response.json()["detail"] and PASSWORD not in response.text
        assert time.monotonic() - started < 6


def test_model_problem_names_ids_counts_and_fixes():
    query = "resnet18-fc_identity/imagenet1k_v1/t"
    random_id = "resnet18-fc_identity/random-seed0/t"
    assert model_problem({query: 10}, query, "imagenes_fer") is None
    assert model_problem({}, query, "imagenes_fer") is None
    single = model_problem({random_id: 10}, query, "imagenes_fer")
    assert random_id in single and query in single and "set FER_WEIGHTS=random" in single and "embed_images" in single
    mixed = model_problem({query: 7, random_id: 3, None: 2}, query, "imagenes_fer")
    assert "mixes embedding models" in mixed and f"7 rows of {query}" in mixed and f"3 rows of {random_id}" in mixed
    assert "2 rows of no recorded model" in mixed
