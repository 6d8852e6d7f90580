"""The HTTP service (FastAPI): the API routes (``service.routes``), the page on ``/`` and OpenAPI docs on ``/docs``.

The service refuses to start without ``FER_API_KEY``, or with a ``FER_MODEL_VERSION``
that names no registered version.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from fer_platform.service.engine import SearchEngine
from fer_platform.service.routes import router
from fer_platform.settings import FerSettings, load_settings


class ApiKeyMissingError(RuntimeError):
    """The service refuses to start without FER_API_KEY."""


def page() -> str:
    return files("fer_platform.service").joinpath("page.html").read_text()


def create_app(settings: FerSettings | None = None) -> FastAPI:
    """The app for ``settings`` (the environment by default)."""
    settings = settings or load_settings()
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ApiKeyMissingError("FER_API_KEY is not set: the search API refuses to run without a key")
    engine = SearchEngine(settings)

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
    app.state.key = settings.api_key.get_secret_value().encode()
    app.include_router(router)
    app.add_api_route("/", page, response_class=HTMLResponse, include_in_schema=False)
    return app
