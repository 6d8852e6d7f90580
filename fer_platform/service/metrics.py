"""``/metrics`` in the Prometheus text format (prometheus-client): what an operator scrapes besides ``/healthz``.

Counted per request, by the outermost layer (so the guard's refusals before the
body are counted too): requests by method, route template and status, their
latency, and refusals (401 key, 413 size, 415 type, 422 input, 503 busy or
unavailable). Read live at each scrape: the admission bound's working and waiting
requests, the served emotion_model and classifier versions, and the replica
pool's size and waits. Route labels are the route templates (``/similar/{id}``),
never raw paths, so a client cannot grow the series without bound.
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match

from fer_platform.service.admission import Admission
from fer_platform.service.engine import SearchEngine
from fer_platform.service.guard import ASGIApp, Message, Receive, Scope, Send

REFUSALS = (401, 413, 415, 422, 503)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "unmatched"


class ServingState(Collector):
    """The gauges read at scrape time from the admission bound, the served models and the replica pool."""

    def __init__(self, admission: Admission, engine: SearchEngine):
        self.admission, self.engine = admission, engine

    def collect(self) -> Iterator[Metric]:
        working = GaugeMetricFamily("fer_admission_working", "Requests decoding or running the models now.")
        working.add_metric([], self.admission.working)
        waiting = GaugeMetricFamily("fer_admission_waiting", "Requests queued for a decode slot.")
        waiting.add_metric([], self.admission.inside - self.admission.working)
        capacity = GaugeMetricFamily("fer_admission_capacity", "Slots plus queue places; beyond: 503.")
        capacity.add_metric([], self.admission.limit)
        served = GaugeMetricFamily(
            "fer_served_model", "1 for the served version of each model.", labels=["model", "version"]
        )
        models = {"emotion_model": self.engine.emotion_model, "emotion_classifier": self.engine.classifier}
        for name, holder in models.items():
            current = holder.current()
            served.add_metric([name, current[0] if current else "none"], 1)
        yield from (working, waiting, capacity, served, *self.pool_metrics())

    def pool_metrics(self) -> Iterator[Metric]:
        stats = self.engine.pool.get_stats()
        for key, help_text in (
            ("pool_size", "Connections the replica pool holds."),
            ("pool_available", "Idle connections in the replica pool."),
            ("requests_waiting", "Requests waiting for a replica connection now."),
        ):
            gauge = GaugeMetricFamily(f"fer_replica_{key}", help_text)
            gauge.add_metric([], stats.get(key, 0))
            yield gauge
        for key, help_text in (
            ("requests_queued", "Requests that had to wait for a replica connection."),
            ("requests_errors", "Requests that got no replica connection in time."),
        ):
            counter = CounterMetricFamily(f"fer_replica_{key}", help_text)
            counter.add_metric([], stats.get(key, 0))
            yield counter
        wait = CounterMetricFamily("fer_replica_wait_seconds", "Time spent waiting for replica connections.")
        wait.add_metric([], stats.get("requests_wait_ms", 0) / 1000)
        yield wait


class ServiceMetrics:
    """The app's own registry (never the process-global one: each app counts its own requests)."""

    def __init__(self, admission: Admission, engine: SearchEngine):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "fer_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "fer_http_request_duration_seconds", "Time from request to the answer's last byte.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.refusals = Counter(
            "fer_http_refusals", "Requests refused: 401 key, 413 size, 415 type, 422 input, 503 busy or unavailable.",
            ["route", "status"], registry=self.registry,
        )
        self.registry.register(ServingState(admission, engine))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if status in REFUSALS:
            self.refusals.labels(route, str(status)).inc()

    def response(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route ``scope`` matched (``/similar/{id}``), or ``unmatched``: the route routing put in
    the scope, else (a request the guard refused before routing) the one of ``routes`` that matches it now."""
    matched = scope.get("route") or next((r for r in routes if r.matches(scope)[0] == Match.FULL), None)
    return getattr(matched, "path", UNMATCHED)


class RequestMetrics:
    """The outermost ASGI layer: times every HTTP request to its last byte and counts it by route and status."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], metrics: ServiceMetrics):
        self.app, self.routes, self.metrics = app, routes, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            route = route_template(self.routes, scope)
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
