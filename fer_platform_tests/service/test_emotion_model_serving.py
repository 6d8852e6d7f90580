"""The service and the promoted emotion_model: scores, expression search, pinning, reload without restart,
a damaged version kept out of service.

The platform is the session's shared one, only read: a test that registers, promotes or damages a version does it
in a copy of the lake of its own (``own_lake``), so that each test passes alone, and in any order.
"""

import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fer_platform.models.lifecycle.registry import EMOTION_CLASSIFIER, EMOTION_MODEL, ModelNotFoundError, model_registry
from fer_platform.models.model import EmotionModel
from fer_platform.service import engine as engine_module
from fer_platform.service.app import create_app
from fer_platform.service.served_model import RELOAD_INTERVAL_S
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform_tests.support.constants import TEST_EMOTIONS
from fer_platform_tests.support.populated import API_KEY
from fer_platform_tests.support.service.clients import query_image, upload

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def client(shared_search_env):
    """A service on the shared platform, as populated (emotion_model and classifier v0001, promoted)."""
    with TestClient(create_app(load_settings())) as c:
        yield c


@pytest.fixture
def own_lake(shared_search_env, tmp_path, monkeypatch) -> Path:
    """A copy of the shared lake (8 MB), set as ``FER_LAKE_URL`` for this test alone: the registries it changes are
    its own, and the apps it creates (``create_app(load_settings())``) serve them."""
    copy = tmp_path / "lake"
    shutil.copytree(load_settings().resolved_lake_url, copy)
    monkeypatch.setenv("FER_LAKE_URL", str(copy))
    return copy


def registry():
    return model_registry(open_location(load_settings().resolved_lake_url), EMOTION_MODEL)


def predict(client, env, emotion: str = "happy") -> dict:
    response = client.post("/predict", files=upload(query_image(env, "test", emotion)), headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def test_predict_returns_a_score_per_emotion(client, shared_search_env):
    body = predict(client, shared_search_env)
    assert set(body["scores"]) == set(TEST_EMOTIONS) and sum(body["scores"].values()) == pytest.approx(1, abs=1e-4)
    assert body["model_version"] == "v0001" and body["emotion"] == max(body["scores"], key=body["scores"].get)
    assert {"knn", "classifier", "face", "confidence"} <= body.keys()  # the fields of before stay


def test_each_request_runs_only_the_models_and_the_one_query_it_needs(client, shared_search_env, monkeypatch):
    """With an emotion_model served: an expression search or a prediction never runs the seed's ResNet18 nor
    asks the neighbours for a vote; a seed search with predict=true asks one nearest-neighbour query."""
    calls = {"forward": 0, "nearest": 0}

    def counted(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(engine_module, "forward", counted("forward", engine_module.forward))
    monkeypatch.setattr(engine_module, "nearest", counted("nearest", engine_module.nearest))
    data = upload(query_image(shared_search_env, "test", "happy"))
    assert client.post("/search?k=5&space=expression&predict=true", files=data, headers=AUTH).status_code == 200
    assert calls == {"forward": 0, "nearest": 1}
    assert client.post("/predict", files=upload(query_image(shared_search_env, "test", "sad")), headers=AUTH).json()[
        "model_version"
    ] == "v0001"
    assert calls == {"forward": 0, "nearest": 1}
    body = client.post("/search?k=5&predict=true", files=upload(query_image(shared_search_env, "test", "sad")),
                       headers=AUTH).json()
    assert len(body["results"]) == 5 and body["prediction"]["model_version"] == "v0001"
    assert calls == {"forward": 1, "nearest": 2}


def test_expression_search_finds_the_same_expression(client, shared_search_env):
    same = {"seed": 0, "expression": 0}
    for space in same:
        for emotion in TEST_EMOTIONS:
            for i in range(4):
                data = query_image(shared_search_env, "test", emotion, f"im{i}.png")
                response = client.post(f"/search?k=5&space={space}", files=upload(data), headers=AUTH)
                assert response.status_code == 200 and response.json()["space"] == space
                same[space] += sum(r["emotion"] == emotion for r in response.json()["results"])
    # The trained model's space groups expressions; untrained seed vectors (FER_WEIGHTS=random) barely do.
    assert same["expression"] / 60 >= 0.8 and same["expression"] > same["seed"]


def test_the_emotion_model_runs_inside_the_admission_slot(client, shared_search_env, monkeypatch):
    """Its ten-crop inference is model work like the seed embedding: it is bounded by the same slots."""
    held: list[int] = []
    infer = EmotionModel.infer

    def recording_infer(self, pixels):
        held.append(client.app.state.admission.inside)  # requests inside Admission.slot() at this moment
        return infer(self, pixels)

    monkeypatch.setattr(EmotionModel, "infer", recording_infer)
    predict(client, shared_search_env)
    image = query_image(shared_search_env)
    assert client.post("/search?space=expression", files=upload(image), headers=AUTH).status_code == 200
    assert client.post("/search?space=seed", files=upload(image), headers=AUTH).status_code == 200
    assert held == [1, 1]  # once per request that needs it (not for the seed space), each time inside a slot


def test_unknown_space_is_a_422(client, shared_search_env):
    image = query_image(shared_search_env)
    assert client.post("/search?space=identity", files=upload(image), headers=AUTH).status_code == 422


def test_a_pin_naming_no_version_refuses_to_start(shared_search_env, monkeypatch):
    monkeypatch.setenv("FER_MODEL_VERSION", "v0042")
    with pytest.raises(ModelNotFoundError, match="v0042.*registered: v0001"):
        create_app(load_settings())


def wait_for_version(client, env, version: str) -> dict:
    deadline = time.monotonic() + RELOAD_INTERVAL_S * 5
    while (body := predict(client, env))["model_version"] != version and time.monotonic() < deadline:
        time.sleep(0.2)
    return body


def wait_for_health(client, status: str) -> dict:
    """/healthz polled until it says ``status`` (the pointer is re-read at most every RELOAD_INTERVAL_S), or
    its last answer after 5 intervals."""
    deadline = time.monotonic() + RELOAD_INTERVAL_S * 5
    while (health := client.get("/healthz").json())["status"] != status and time.monotonic() < deadline:
        time.sleep(0.2)
    return health


def test_promotion_reloads_without_restart_and_a_damaged_version_stays_out(own_lake, shared_search_env, monkeypatch):
    models = registry()
    weights, metrics = models.read("v0001", "model.pt"), models.metrics("v0001")
    with TestClient(create_app(load_settings())) as client:
        assert predict(client, shared_search_env)["model_version"] == "v0001"
        good = models.register({"model.pt": weights}, metrics)
        damaged = models.register({"model.pt": weights[: len(weights) // 2]}, metrics)
        models.promote(good)
        assert wait_for_version(client, shared_search_env, good)["model_version"] == good
        models.promote(damaged)
        health = wait_for_health(client, "degraded")
        assert health["status"] == "degraded" and damaged in health["problem"] and health["model_version"] == good
        assert predict(client, shared_search_env)["model_version"] == good  # the previous version keeps serving
        monkeypatch.setenv("FER_MODEL_VERSION", "v0001")  # a pin wins over the promotion
        with TestClient(create_app(load_settings())) as pinned:
            assert predict(pinned, shared_search_env)["model_version"] == "v0001"
        models.promote("v0001")  # a good promotion again: served, and the service is ok
        assert wait_for_version(client, shared_search_env, "v0001")["model_version"] == "v0001"
        assert wait_for_health(client, "ok")["status"] == "ok"


def served_head(client: TestClient) -> str:
    """The classifier version the service serves (with an emotion_model served, predictions do not ask it)."""
    return client.app.state.engine.classifier.current()[0]


def test_a_classifier_pin_is_served_and_a_missing_one_refuses_to_start(own_lake, shared_search_env, monkeypatch):
    heads = model_registry(open_location(load_settings().resolved_lake_url), EMOTION_CLASSIFIER)
    newer = heads.register({"model.pt": heads.read("v0001", "model.pt")}, heads.metrics("v0001"))
    with TestClient(create_app(load_settings())) as registered_only:  # registered, not promoted: not served
        assert served_head(registered_only) == "v0001"
        assert predict(registered_only, shared_search_env)["classifier"] is None  # the emotion_model answers
    heads.promote(newer)
    with TestClient(create_app(load_settings())) as promoted:
        assert served_head(promoted) == newer
    monkeypatch.setenv("FER_CLASSIFIER_VERSION", "v0001")
    with TestClient(create_app(load_settings())) as pinned:
        assert served_head(pinned) == "v0001"
    monkeypatch.setenv("FER_CLASSIFIER_VERSION", "v0042")
    with pytest.raises(ModelNotFoundError, match=f"'v0042' not found.*registered: v0001, {newer}"):
        create_app(load_settings())
