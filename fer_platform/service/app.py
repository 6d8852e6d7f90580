"""The HTTP service (FastAPI): the API routes (``service.routes``), the page on ``/``, OpenAPI docs on ``/docs``
and Prometheus metrics on ``/metrics`` (``service.metrics``; behind the key unless ``FER_PUBLIC_METRICS``).

``create_app`` refuses to start without ``FER_API_KEY``, with a ``FER_MODEL_VERSION``
that names no registered version, with a replica that cannot serve, or with a
query model that cannot be loaded or differs from the one that made the stored
rows (unless ``wait``: then ``/healthz``, ``/search`` and ``/predict`` answer 503
with the reason until it can). Around the routes: ``RequestGuard`` (key and size
before the body), an admission bound on decode + model work, database errors
answered as 503 JSON within seconds, and any other error as a JSON 500 whose
``error_id`` finds its traceback in the log.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from contextlib import asynccontextmanager
from importlib.resources import files

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.formparsers import MultiPartParser

from fer_platform.postgres.connection import error_line
from fer_platform.postgres.dsn import describe
from fer_platform.service.admission import Admission
from fer_platform.service.engine import SearchEngine
from fer_platform.service.guard import METRICS_PATH, MULTIPART_OVERHEAD, RequestGuard
from fer_platform.service.metrics import RequestMetrics, ServiceMetrics
from fer_platform.service.readiness import ServiceNotReadyError
from fer_platform.service.routes import router
from fer_platform.service.schemas import errors
from fer_platform.settings import FerSettings, load_settings

log = logging.getLogger(__name__)
DECODE_WORKERS, DECODE_QUEUE = 2, 64
DATABASE_RETRY_AFTER_S = 5
METRICS_HELP = "Prometheus text format: requests, latency, refusals, admission, served versions, replica pool."


class ApiKeyMissingError(RuntimeError):
    """The service refuses to start without FER_API_KEY."""


def inline_hashes(html: str, tag: str) -> str:
    """CSP source expressions (``'sha256-...'``) of the page's inline ``<tag>`` blocks."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)


def page_response() -> HTMLResponse:
    """The page, with a CSP that admits only its own inline script and style (by hash) and no framing."""
    html = files("fer_platform.service").joinpath("page.html").read_text()
    policy = (
        f"default-src 'none'; script-src {inline_hashes(html, 'script')}; style-src {inline_hashes(html, 'style')}; "
        "img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


def database_errors(app: FastAPI, dsn: str) -> None:
    """A lost or overloaded database (pool wait, connection, statement timeout) is a 503 that names the server."""

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        reason = error_line(exc)
        log.warning("replica %s: %s", describe(dsn), reason)
        return JSONResponse(
            {"detail": f"the replica {describe(dsn)} is unavailable: {reason}"},
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    app.add_exception_handler(psycopg.Error, unavailable)


def unexpected_errors(app: FastAPI) -> None:
    """Any error no route answered is a JSON 500 with an id; the traceback is logged under that id (never sent)."""

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error("error_id=%s: %s %s failed", error_id, request.method, request.url.path, exc_info=exc)
        detail = f"internal error: the server's log holds its traceback under error_id {error_id}"
        return JSONResponse({"detail": detail, "error_id": error_id}, status_code=500)

    app.add_exception_handler(Exception, internal)


def create_app(settings: FerSettings | None = None, wait: bool = False) -> FastAPI:
    """The app for ``settings`` (the environment by default)."""
    settings = settings or load_settings()
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ApiKeyMissingError("FER_API_KEY is not set: the search API refuses to run without a key")
    engine = SearchEngine(settings)
    problem = engine.serving_problem()
    if problem and not wait:
        engine.close()
        raise ServiceNotReadyError(f"{problem} (or start with --wait)")

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        engine.close()

    app = FastAPI(
        title="fer_platform search",
        description="Similarity search and emotion prediction over the FER embeddings.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.engine = settings, engine
    app.state.admission = admission = Admission(DECODE_WORKERS, DECODE_QUEUE)
    metrics = ServiceMetrics(admission, engine)
    # The guard has already bounded the body: let Starlette keep the upload in memory, never in a temporary file.
    MultiPartParser.spool_max_size = settings.max_upload_bytes + MULTIPART_OVERHEAD
    app.include_router(router)
    app.add_api_route("/", page_response, include_in_schema=False)
    app.add_api_route(
        METRICS_PATH, metrics.response, summary="Metrics", description=METRICS_HELP,
        responses={200: {"content": {"text/plain": {}}, "description": "The metrics."}, **errors(401)},
        response_class=Response,
    )
    database_errors(app, engine.replica_dsn)
    unexpected_errors(app)
    key = settings.api_key.get_secret_value().encode()
    app.add_middleware(
        RequestGuard, key=key, max_upload_bytes=settings.max_upload_bytes, public_docs=settings.public_docs,
        public_metrics=settings.public_metrics,
    )
    # Outermost, to count the guard's refusals too; the router's own routes, to name those not routed.
    app.add_middleware(RequestMetrics, routes=[*router.routes, *app.router.routes], metrics=metrics)
    return app
