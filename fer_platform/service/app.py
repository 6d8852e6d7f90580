"""The HTTP service (FastAPI): ``POST /search`` (``space=seed|expression``), ``POST /predict`` (with per-emotion
``scores`` once an emotion_model is promoted), ``GET /images/{path}``, ``GET /healthz``, ``/``.

Every data route needs ``Authorization: Bearer $FER_API_KEY`` (compared in constant
time). Uploads are capped (FER_MAX_UPLOAD_BYTES) before and after parsing, and a
file that is not an image is a 415 that says so. ``/images`` serves only objects
under the lake's image prefix. OpenAPI docs: ``/docs``.
"""

from __future__ import annotations

import hmac
import mimetypes
import posixpath
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Literal

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fer_platform.images.decode import ImageDecodeError
from fer_platform.lakehouse.layout import IMAGES_PREFIX
from fer_platform.search.query import MAX_K
from fer_platform.service.engine import Prediction, SearchEngine, SpaceUnavailableError
from fer_platform.settings import FerSettings, load_settings

MULTIPART_OVERHEAD = 64_000


class ApiKeyMissingError(RuntimeError):
    """The service refuses to start without FER_API_KEY."""


def image_object(path: str, images_prefix: str) -> str:
    """The lake object for ``/images/{path}``; anything outside the image prefix is refused."""
    normal = posixpath.normpath(path)
    if path.startswith("/") or normal != path or not normal.startswith(f"{images_prefix}/"):
        raise HTTPException(404, f"no image {path!r} under {images_prefix}/")
    return normal


def prediction_json(prediction: Prediction | None) -> dict | None:
    if prediction is None:
        return None
    return {"emotion": prediction.emotion, "confidence": round(prediction.confidence, 4), "source": prediction.source}


def create_app(settings: FerSettings | None = None) -> FastAPI:
    """The app for ``settings`` (the environment by default)."""
    settings = settings or load_settings()
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ApiKeyMissingError("FER_API_KEY is not set: the search API refuses to run without a key")
    key = settings.api_key.get_secret_value().encode()
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
    bearer = HTTPBearer(auto_error=False)

    def require_key(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), key):
            raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})

    def refuse_large_bodies(request: Request) -> None:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + MULTIPART_OVERHEAD:
            raise HTTPException(413, f"upload larger than {settings.max_upload_bytes} bytes")

    async def query_image(file: UploadFile) -> tuple:
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"upload larger than {settings.max_upload_bytes} bytes")
        try:
            return await run_in_threadpool(engine.embed, data)
        except ImageDecodeError as exc:
            raise HTTPException(415, f"{file.filename or 'the upload'} is not a usable image: {exc}") from exc

    guarded = [Depends(require_key), Depends(refuse_large_bodies)]

    @app.post("/search", dependencies=guarded)
    async def search(
        file: UploadFile = File(..., description="The query image (any format PIL reads)."),
        k: int = Query(5, ge=1, le=MAX_K),
        emotion: str | None = Query(None, description="Only neighbours of this emotion."),
        space: Literal["seed", "expression"] = Query(
            "seed", description="seed: the seed's ResNet18 vectors; expression: the emotion_model's features."
        ),
    ) -> dict:
        """The k stored images most similar to the uploaded one: in the seed's space (same person, pose,
        lighting) or, with ``space=expression``, in the trained emotion_model's (same expression)."""
        vector, crop = await query_image(file)
        try:
            if space == "expression":
                neighbours = await run_in_threadpool(engine.expression_search, crop, k, emotion)
            else:
                neighbours = await run_in_threadpool(engine.search, vector, k, emotion)
        except SpaceUnavailableError as exc:
            raise HTTPException(503, str(exc)) from exc
        results = []
        for n in neighbours:
            path = engine.lake_path(n.filepath)
            results.append(
                {
                    "filepath": path,
                    "emotion": n.emotion,
                    "distance": round(n.distance, 6),
                    "image_url": f"/images/{path}",
                }
            )
        return {"results": results, "face": crop.method, "space": space}

    @app.post("/predict", dependencies=guarded)
    async def predict(file: UploadFile = File(..., description="The query image.")) -> dict:
        """The emotion of the face: from the served emotion_model (with ``scores`` for every emotion) when one is
        promoted, else the trained head when one is registered, else the neighbours' vote."""
        vector, crop = await query_image(file)
        vote, head = await run_in_threadpool(engine.predict, vector)
        served = await run_in_threadpool(engine.emotion_scores, crop)
        best = head or vote
        if best is None and served is None:
            raise HTTPException(503, "no stored embeddings to compare with")
        answer = {
            "emotion": best.emotion if best else None,
            "confidence": round(best.confidence, 4) if best else None,
            "knn": prediction_json(vote),
            "classifier": prediction_json(head),
            "face": crop.method,
        }
        if served is not None:
            version, scores = served
            top = max(scores, key=scores.__getitem__)
            answer |= {"emotion": top, "confidence": round(scores[top], 4), "model_version": version}
            answer["scores"] = {emotion: round(p, 6) for emotion, p in scores.items()}
        return answer

    @app.get("/images/{path:path}", dependencies=[Depends(require_key)])
    def image(path: str) -> StreamingResponse:
        """A stored image, streamed from the lake."""
        name = image_object(path, IMAGES_PREFIX)
        full = engine.lake.path(name)
        if not engine.lake.fs.exists(full):
            raise HTTPException(404, f"no image {path!r}")

        def chunks():
            with engine.lake.fs.open(full, "rb") as stream:
                while chunk := stream.read(65536):
                    yield chunk

        return StreamingResponse(chunks(), media_type=mimetypes.guess_type(name)[0] or "application/octet-stream")

    @app.get("/healthz")
    def healthz() -> dict:
        """Liveness and the database answering (no key needed, no data returned)."""
        with engine.pool.connection() as conn:
            conn.execute("SELECT 1")
        served = engine.emotion_model.current()
        health = {"status": "ok", "model_version": served[0] if served else None}
        if engine.emotion_model.problem:
            health |= {"status": "degraded", "problem": engine.emotion_model.problem}
        return health

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return files("fer_platform.service").joinpath("page.html").read_text()

    return app
