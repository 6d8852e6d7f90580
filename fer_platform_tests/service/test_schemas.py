"""The typed API: every route's answers, successes and refusals, validate against the schema ``/openapi.json``
declares for that route and status, and every route of the schema is exercised here."""

import jsonschema
import psycopg
import pytest
from fastapi.testclient import TestClient

from fer_platform.service.app import create_app
from fer_platform.settings import load_settings
from fer_platform_tests.support.populated import API_KEY
from fer_platform_tests.support.service.clients import query_image, upload

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def client(shared_search_env):
    with TestClient(create_app(load_settings())) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client) -> dict:
    return client.get("/openapi.json").json()


def requests(shared_search_env) -> list[tuple[str, str, str, dict]]:
    """(method, route template, url, httpx arguments) of one or more answers of every route."""
    with psycopg.connect(shared_search_env["FER_REPLICA_DSN"]) as conn:
        row_id = conn.execute("SELECT min(id) FROM imagenes_fer").fetchone()[0]
    face = query_image(shared_search_env)
    image = "raw/images/fer2013/train/happy/im0.png"
    return [
        ("post", "/search", "/search?k=3", {"files": upload(face), "headers": AUTH}),
        ("post", "/search", "/search?space=expression&predict=true", {"files": upload(face), "headers": AUTH}),
        ("post", "/search", "/search", {"files": upload(face)}),
        ("post", "/search", "/search?k=0", {"files": upload(face), "headers": AUTH}),
        ("post", "/search", "/search", {"files": upload(b"%PDF-1.7", "cv.pdf"), "headers": AUTH}),
        ("post", "/search", "/search", {"content": b"x" * 6_000_000, "headers": AUTH}),
        ("get", "/similar/{id}", f"/similar/{row_id}?space=expression", {"headers": AUTH}),
        ("get", "/similar/{id}", "/similar/999999999", {"headers": AUTH}),
        ("get", "/similar/{id}", "/similar/abc", {"headers": AUTH}),
        ("post", "/predict", "/predict", {"files": upload(face), "headers": AUTH}),
        ("post", "/predict", "/predict", {"files": upload(b"GIF89a broken", "x.gif"), "headers": AUTH}),
        ("get", "/emotions", "/emotions", {"headers": AUTH}),
        ("get", "/emotions", "/emotions", {}),
        ("get", "/images/{path}", f"/images/{image}", {"headers": AUTH}),
        ("get", "/images/{path}", "/images/raw/images/fer2013/train/happy/absent.png", {"headers": AUTH}),
        ("get", "/healthz", "/healthz", {}),
        ("get", "/metrics", "/metrics", {"headers": AUTH}),
        ("get", "/metrics", "/metrics", {}),
    ]


def declared(spec: dict, method: str, template: str, status: int) -> dict:
    """The response ``template`` declares for ``status`` (a KeyError when it declares none)."""
    return spec["paths"][template][method]["responses"][str(status)]


def closed(components: dict) -> dict:
    """The components with ``additionalProperties: false``: an answer carrying a field its schema does not
    declare fails too (Pydantic's schemas leave objects open)."""
    schemas = {name: {**schema, "additionalProperties": False} if "properties" in schema else schema
               for name, schema in components["schemas"].items()}
    return {**components, "schemas": schemas}


def test_every_answer_validates_against_its_declared_schema(client, spec, shared_search_env):
    exercised, components = set(), closed(spec["components"])
    for method, template, url, kwargs in requests(shared_search_env):
        answer = client.request(method.upper(), url, **kwargs)
        response = declared(spec, method, template, answer.status_code)
        media = answer.headers["content-type"].split(";")[0]
        exercised.add((template, answer.status_code))
        if media == "application/json":
            schema = response["content"]["application/json"]["schema"]
            jsonschema.validate(answer.json(), {**schema, "components": components})
        else:
            assert any(media.startswith(m.rstrip("*")) for m in response["content"]), (url, media)
    assert {template for template, _ in exercised} == set(spec["paths"])
    refusals = {status for _, status in exercised if status >= 400}
    assert refusals == {401, 404, 413, 415, 422}


def test_the_answers_are_named_schemas(spec):
    """Clients generate types from named schemas, never from ``object``."""
    names = {
        (path, method): operation["responses"]["200"]["content"].get("application/json", {}).get("schema", {})
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert names[("/search", "post")] == {"$ref": "#/components/schemas/SearchAnswer"}
    assert names[("/similar/{id}", "get")] == {"$ref": "#/components/schemas/SearchAnswer"}
    assert names[("/predict", "post")] == {"$ref": "#/components/schemas/PredictAnswer"}
    assert names[("/emotions", "get")] == {"$ref": "#/components/schemas/EmotionsAnswer"}
    assert names[("/healthz", "get")] == {"$ref": "#/components/schemas/Health"}
    error = spec["paths"]["/search"]["post"]["responses"]["413"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorAnswer"}
