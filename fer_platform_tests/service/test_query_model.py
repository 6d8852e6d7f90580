"""Queries are embedded by the model that made the stored vectors: a service (or CLI search) whose query model
differs from the replica's rows, or cannot be loaded, refuses to start, or with ``--wait`` answers 503 JSON."""

import io
import logging
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from fastapi.testclient import TestClient
from torchvision import models

from fer_platform.cli import main
from fer_platform.service.app import create_app
from fer_platform.service.readiness import ServiceNotReadyError
from fer_platform.settings import load_settings
from fer_platform_tests.support.populated import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}"}
STORED_ID = "resnet18-fc_identity/random-seed0/gray3-r256-c224-imagenetnorm"


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory) -> Path:
    """A ResNet18 state_dict of another model than the one that embedded ``shared_search_env`` (random, seed 0)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        state = models.resnet18(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "other_resnet18.pth"
    torch.save(state, path)
    return path


@pytest.fixture
def served_with_other_weights(shared_search_env, other_weights, monkeypatch):
    monkeypatch.setenv("FER_WEIGHTS", str(other_weights))


def query_upload(shared_search_env) -> dict:
    data = (Path(shared_search_env["FER_IMAGE_ROOT"]) / "test" / "happy" / "im0.png").read_bytes()
    return {"file": ("face.png", io.BytesIO(data), "image/png")}


def test_a_replica_of_another_model_refuses_to_start_naming_both_ids(served_with_other_weights):
    with pytest.raises(ServiceNotReadyError) as refused:
        create_app(load_settings())
    message = str(refused.value)
    assert f"embedded with {STORED_ID}" in message and "resnet18-fc_identity/state_dict-" in message
    assert "FER_WEIGHTS=random" in message and "job embed_images" in message and "--wait" in message


def test_with_wait_health_search_and_predict_answer_503_json(served_with_other_weights, shared_search_env):
    with TestClient(create_app(load_settings(), wait=True)) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and STORED_ID in health.json()["reason"]
        answer = client.post("/search", files=query_upload(shared_search_env), headers=AUTH)
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/json" and STORED_ID in answer.json()["detail"]
        # the served emotion_model predicts without the seed's vectors: the mismatch does not concern it
        predicted = client.post("/predict", files=query_upload(shared_search_env), headers=AUTH)
        assert predicted.status_code == 200 and predicted.json()["model_version"] == "v0001"


def test_missing_weights_refuse_to_start_with_the_fix(shared_search_env, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(ServiceNotReadyError, match="the query model cannot be loaded: FER_WEIGHTS="):
        create_app(load_settings())
    with TestClient(create_app(load_settings(), wait=True)) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and "absent.pth" in health.json()["reason"]
        answer = client.post("/search", files=query_upload(shared_search_env), headers=AUTH)
        assert answer.status_code == 503 and "cannot be loaded" in answer.json()["detail"]


def test_cli_search_prints_one_line_and_fails(served_with_other_weights, shared_search_env):
    image = Path(shared_search_env["FER_IMAGE_ROOT"]) / "test" / "sad" / "im0.png"
    result = CliRunner().invoke(main, ["search", str(image)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line]
    assert line.startswith("Error: the replica's imagenes_fer was embedded with") and "FER_WEIGHTS=random" in line


def test_an_unexpected_route_error_is_a_json_500_with_its_id_in_the_log(shared_search_env, monkeypatch, caplog):
    app = create_app(load_settings())

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug that no handler expected")

    monkeypatch.setattr(app.state.engine, "search", broken)
    with caplog.at_level(logging.ERROR), TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post("/search", files=query_upload(shared_search_env), headers=AUTH)
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    error_id = answer.json()["error_id"]
    assert error_id in answer.json()["detail"] and "a bug" not in answer.text
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and "a bug that no handler expected" in str(logged[0].exc_info[1])


def test_cli_errors_are_one_line_unless_verbose(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["sample-data", str(blocker / "images")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and "a_file" in result.output and len(result.output.splitlines()) == 1
    verbose = CliRunner().invoke(main, ["--verbose", "sample-data", str(blocker / "images")])
    assert isinstance(verbose.exception, OSError)
