"""``GET /similar/{id}`` ("more like this", no upload) and ``POST /search?predict=true`` (one upload for the
neighbours and the emotion) on a populated platform."""

import psycopg
import pytest
from fastapi.testclient import TestClient
from pgvector.psycopg import register_vector

from fer_platform.search.query import nearest
from fer_platform.service.app import create_app
from fer_platform.settings import load_settings
from fer_platform.table.expression import EXPRESSION_TABLE
from fer_platform_tests.support.constants import TEST_EMOTIONS
from fer_platform_tests.support.populated import API_KEY
from fer_platform_tests.support.service.clients import query_image, upload

AUTH = {"Authorization": f"Bearer {API_KEY}"}
PREFIX = "raw/images/fer2013/"


@pytest.fixture(scope="module")
def client(shared_search_env):
    with TestClient(create_app(load_settings())) as c:
        yield c


@pytest.fixture
def replica(shared_search_env):
    with psycopg.connect(shared_search_env["FER_REPLICA_DSN"], autocommit=True) as conn:
        register_vector(conn)
        yield conn


def stored(replica, emotion: str = "happy") -> tuple[int, str, object]:
    return replica.execute(
        "SELECT id, filepath, vector FROM imagenes_fer WHERE emotion = %s ORDER BY filepath LIMIT 1", (emotion,)
    ).fetchone()


def test_similar_in_the_seed_space_is_exact_search_from_the_stored_vector_without_itself(client, replica):
    row_id, _, vector = stored(replica)
    body = client.get(f"/similar/{row_id}?k=5", headers=AUTH).json()
    exact = [n for n in nearest(replica, "imagenes_fer", vector.to_numpy(), 6, exact=True) if n.id != row_id][:5]
    assert body["query_id"] == row_id and body["face"] is None and body["space"] == "seed"
    assert [r["id"] for r in body["results"]] == [n.id for n in exact]
    assert [r["filepath"] for r in body["results"]] == [PREFIX + n.filepath for n in exact]
    assert [r["distance"] for r in body["results"]] == pytest.approx([n.distance for n in exact], abs=1e-5)


def test_similar_in_the_expression_space_answers_seed_ids_that_can_be_searched_from(client, replica):
    row_id, filepath, _ = stored(replica, "sad")
    body = client.get(f"/similar/{row_id}?k=4&space=expression", headers=AUTH).json()
    features = replica.execute(f"SELECT vector FROM {EXPRESSION_TABLE} WHERE filepath = %s", (filepath,)).fetchone()
    exact = nearest(replica, EXPRESSION_TABLE, features[0].to_numpy(), 5, exact=True, model_version="v0001")
    expected = [n.filepath for n in exact if n.filepath != filepath][:4]
    assert [r["filepath"] for r in body["results"]] == [PREFIX + p for p in expected]
    ids = dict(replica.execute("SELECT filepath, id FROM imagenes_fer WHERE filepath = ANY(%s)", (expected,)))
    assert [r["id"] for r in body["results"]] == [ids[p] for p in expected]
    again = client.get(f"/similar/{body['results'][0]['id']}?space=expression", headers=AUTH)
    assert again.status_code == 200 and again.json()["query_id"] == body["results"][0]["id"]


def test_similar_within_an_emotion(client, replica):
    row_id, _, _ = stored(replica)
    for space in ("seed", "expression"):
        body = client.get(f"/similar/{row_id}?k=3&emotion=angry&space={space}", headers=AUTH).json()
        assert [r["emotion"] for r in body["results"]] == ["angry"] * 3


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/similar/999999999", 404, "no stored image with id 999999999"),
        ("/similar/abc", 422, "integer"),
        ("/similar/0", 422, "greater than or equal to 1"),
        ("/similar/99999999999999999999", 422, "less than or equal to"),
        ("/similar/{id}?k=0", 422, "greater than or equal to 1"),
        ("/similar/{id}?k=101", 422, "less than or equal to 100"),
        ("/similar/{id}?space=colour", 422, "'seed' or 'expression'"),
        ("/similar/{id}?emotion=bored", 422, "unknown emotion 'bored'"),
    ],
)
def test_similar_refuses_bad_input_with_the_reason(client, replica, path, status, reason):
    row_id, _, _ = stored(replica)
    answer = client.get(path.format(id=row_id), headers=AUTH)
    assert answer.status_code == status and reason in answer.text


def test_similar_needs_the_key(client, replica):
    row_id, _, _ = stored(replica)
    assert client.get(f"/similar/{row_id}").status_code == 401
    assert client.get("/similar/999999999", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_an_image_without_its_expression_vector_yet_is_a_503_with_the_reason(client, replica):
    """A row the replica got after expression_vectors last ran (a copy of a stored row under a new path)."""
    copied = replica.execute(
        "INSERT INTO imagenes_fer (filepath, emotion, vector, content_sha256, model_id) SELECT 'train/happy/new.png', "
        "emotion, vector, content_sha256, model_id FROM imagenes_fer ORDER BY id LIMIT 1 RETURNING id"
    ).fetchone()[0]
    try:
        answer = client.get(f"/similar/{copied}?space=expression", headers=AUTH)
        assert answer.status_code == 503 and f"image {copied} has no expression vector" in answer.json()["detail"]
        assert client.get(f"/similar/{copied}", headers=AUTH).status_code == 200
    finally:
        replica.execute("DELETE FROM imagenes_fer WHERE id = %s", (copied,))


def test_expression_space_without_a_promoted_model_is_a_503(shared_search_env, tmp_path, replica):
    settings = load_settings().model_copy(update={"lake_url": str(tmp_path / "empty-lake")})
    row_id, _, _ = stored(replica)
    with TestClient(create_app(settings)) as bare:
        answer = bare.get(f"/similar/{row_id}?space=expression", headers=AUTH)
        assert answer.status_code == 503 and "no emotion_model is promoted" in answer.json()["detail"]
        assert bare.get(f"/similar/{row_id}", headers=AUTH).status_code == 200


@pytest.mark.parametrize("space", ["seed", "expression"])
def test_one_upload_answers_the_neighbours_and_the_prediction(client, shared_search_env, space):
    data = query_image(shared_search_env)
    both = client.post(f"/search?k=5&space={space}&predict=true", files=upload(data), headers=AUTH).json()
    found = client.post(f"/search?k=5&space={space}", files=upload(data), headers=AUTH).json()
    predicted = client.post("/predict", files=upload(data), headers=AUTH).json()
    assert both["results"] == found["results"] and both["prediction"] == predicted
    assert found["prediction"] is None and set(predicted["scores"]) == set(TEST_EMOTIONS)


def test_one_upload_runs_each_model_once_in_one_admission_slot(client, shared_search_env, monkeypatch):
    """The models a request needs run once, all while it holds its admission slot (``admission.working`` is 1
    inside every pass): with an emotion_model served, an expression search with a prediction needs that model
    alone (no seed vector, no classifier head)."""
    engine, admission = client.app.state.engine, client.app.state.admission
    passes: list[tuple[str, int]] = []
    for name, obj, method in (
        ("embed", engine, "embed"),
        ("classifier", engine, "classify"),
        ("emotion_model", engine.emotion_model.current()[1], "infer"),
    ):
        original = getattr(obj, method)

        def spy(*args, _original=original, _name=name, **kwargs):
            passes.append((_name, admission.working))
            return _original(*args, **kwargs)

        monkeypatch.setattr(obj, method, spy)
    face = query_image(shared_search_env)
    answer = client.post("/search?space=expression&predict=true", files=upload(face), headers=AUTH)
    assert answer.status_code == 200
    assert sorted(passes) == [("embed", 1), ("emotion_model", 1)]
