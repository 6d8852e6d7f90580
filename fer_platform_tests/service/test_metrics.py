"""``/metrics``: Prometheus text behind the key (public with FER_PUBLIC_METRICS), counting requests, latency and
refusals by route template, and reading the admission bound, served versions and replica pool live."""

import asyncio

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from fer_platform.service.app import create_app
from fer_platform.service.metrics import ServingState
from fer_platform.settings import load_settings
from fer_platform_tests.support.populated import API_KEY
from fer_platform_tests.support.service.clients import query_image, upload

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def client(shared_search_env):
    with TestClient(create_app(load_settings())) as c:
        yield c


def samples(client: TestClient) -> dict[tuple, float]:
    """``(sample name, sorted labels) -> value`` of one scrape."""
    answer = client.get("/metrics", headers=AUTH)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_key_unless_public(client, shared_search_env):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    settings = load_settings().model_copy(update={"public_metrics": True})
    with TestClient(create_app(settings)) as public:
        assert public.get("/metrics").status_code == 200
        assert public.get("/search").status_code == 401  # only /metrics became public


def test_requests_latency_and_refusals_are_counted_by_route_template(client, shared_search_env):
    with psycopg.connect(shared_search_env["FER_REPLICA_DSN"]) as conn:
        row_id = conn.execute("SELECT min(id) FROM imagenes_fer").fetchone()[0]
    before = samples(client)
    face = query_image(shared_search_env)
    assert client.post("/search", files=upload(face), headers=AUTH).status_code == 200
    assert client.post("/search", files=upload(face)).status_code == 401
    assert client.post("/search", content=b"x" * 6_000_000, headers=AUTH).status_code == 413
    assert client.post("/search", files=upload(b"%PDF", "cv.pdf"), headers=AUTH).status_code == 415
    for path in (f"/similar/{row_id}", f"/similar/{row_id + 1}", "/similar/x"):
        client.get(path, headers=AUTH)
    after = samples(client)

    def delta(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    for status in ("200", "401", "413", "415"):
        assert delta("fer_http_requests_total", method="POST", route="/search", status=status) == 1
    for status in ("401", "413", "415"):
        assert delta("fer_http_refusals_total", route="/search", status=status) == 1
    assert delta("fer_http_refusals_total", route="/search", status="200") == 0
    assert delta("fer_http_requests_total", method="GET", route="/similar/{id}", status="200") == 2
    assert delta("fer_http_refusals_total", route="/similar/{id}", status="422") == 1
    assert delta("fer_http_request_duration_seconds_count", method="POST", route="/search") == 4
    assert delta("fer_http_request_duration_seconds_sum", method="POST", route="/search") > 0
    routes = {dict(labels).get("route") for _, labels in after} - {None}
    assert {r for r in routes if r.startswith("/similar")} == {"/similar/{id}"}  # ids never become labels


def test_served_versions_and_the_replica_pool_are_read_live(client):
    scrape = samples(client)
    assert value(scrape, "fer_served_model", model="emotion_model", version="v0001") == 1
    assert value(scrape, "fer_served_model", model="emotion_classifier", version="v0001") == 1
    assert value(scrape, "fer_replica_pool_size") >= 1
    assert ("fer_replica_requests_queued_total", ()) in scrape and ("fer_replica_wait_seconds_total", ()) in scrape
    assert value(scrape, "fer_admission_capacity") == 66


def test_admission_working_and_waiting_are_the_bound_s_state(client):
    """Three requests holding or waiting for the two decode slots: 2 working, 1 waiting, then none."""
    admission = client.app.state.admission
    state = ServingState(admission, client.app.state.engine)

    def gauges() -> tuple[float, float]:
        found = {m.name: m.samples[0].value for m in state.collect() if m.name.startswith("fer_admission")}
        return found["fer_admission_working"], found["fer_admission_waiting"]

    async def hold(entered: asyncio.Event, release: asyncio.Event) -> None:
        async with admission.slot():
            entered.set()
            await release.wait()

    async def scenario() -> list[tuple[float, float]]:
        admission.workers = asyncio.Semaphore(2)  # a semaphore of this event loop, as the app's is of its own
        release, entered = asyncio.Event(), [asyncio.Event() for _ in range(3)]
        tasks = [asyncio.create_task(hold(e, release)) for e in entered]
        await asyncio.sleep(0.05)
        during = gauges()
        release.set()
        await asyncio.gather(*tasks)
        return [during, gauges()]

    assert asyncio.run(scenario()) == [(2, 1), (0, 0)]
