"""The API routes: ``POST /search`` (``space=seed|expression``), ``POST /predict`` (per-emotion ``scores`` once
an emotion_model is served), ``GET /images/{path}``, ``GET /healthz``.

Every data route needs ``Authorization: Bearer $FER_API_KEY`` (compared in constant
time). Uploads are capped (FER_MAX_UPLOAD_BYTES) before and after parsing, and a
file that is not an image is a 415 that says so. ``/images`` serves only objects
under the lake's image prefix. The engine and settings are the app's state
(``create_app`` puts them there).
"""

from __future__ import annotations

import hmac
import mimetypes
import posixpath
from typing import Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fer_platform.images.decode import ImageDecodeError
from fer_platform.lakehouse.layout import IMAGES_PREFIX
from fer_platform.search.query import MAX_K
from fer_platform.service.engine import Prediction, SearchEngine, SpaceUnavailableError

MULTIPART_OVERHEAD = 64_000
bearer = HTTPBearer(auto_error=False)
router = APIRouter()


def engine_of(request: Request) -> SearchEngine:
    return request.app.state.engine


def require_key(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    key = request.app.state.key
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), key):
        raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})


def refuse_large_bodies(request: Request) -> None:
    limit = request.app.state.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise HTTPException(413, f"upload larger than {limit} bytes")


GUARDED = [Depends(require_key), Depends(refuse_large_bodies)]


async def query_image(request: Request, file: UploadFile):
    """(seed vector, face crop) of the upload; 413 over the limit, 415 when it is not an image."""
    limit = request.app.state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"upload larger than {limit} bytes")
    try:
        return await run_in_threadpool(engine_of(request).embed, data)
    except ImageDecodeError as exc:
        raise HTTPException(415, f"{file.filename or 'the upload'} is not a usable image: {exc}") from exc


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


@router.post("/search", dependencies=GUARDED)
async def search(
    request: Request,
    file: UploadFile = File(..., description="The query image (any format PIL reads)."),
    k: int = Query(5, ge=1, le=MAX_K),
    emotion: str | None = Query(None, description="Only neighbours of this emotion."),
    space: Literal["seed", "expression"] = Query(
        "seed", description="seed: the seed's ResNet18 vectors; expression: the emotion_model's features."
    ),
) -> dict:
    """The k stored images most similar to the uploaded one: in the seed's space (same person, pose,
    lighting) or, with ``space=expression``, in the trained emotion_model's (same expression)."""
    engine = engine_of(request)
    vector, crop = await query_image(request, file)
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
            {"filepath": path, "emotion": n.emotion, "distance": round(n.distance, 6), "image_url": f"/images/{path}"}
        )
    return {"results": results, "face": crop.method, "space": space}


def model_answer(scores: tuple[str, dict[str, float]] | None) -> dict:
    """The served emotion_model's part of /predict: its top emotion, every score and its version."""
    if scores is None:
        return {}
    version, probabilities = scores
    top = max(probabilities, key=probabilities.__getitem__)
    return {
        "emotion": top,
        "confidence": round(probabilities[top], 4),
        "scores": {emotion: round(p, 6) for emotion, p in probabilities.items()},
        "model_version": version,
    }


@router.post("/predict", dependencies=GUARDED)
async def predict(request: Request, file: UploadFile = File(..., description="The query image.")) -> dict:
    """The emotion of the face: from the served emotion_model (with ``scores`` for every emotion) when one is
    promoted, else the trained head when one is registered, else the neighbours' vote."""
    engine = engine_of(request)
    vector, crop = await query_image(request, file)
    vote, head = await run_in_threadpool(engine.predict, vector)
    scores = await run_in_threadpool(engine.emotion_scores, crop)
    best = head or vote
    if best is None and scores is None:
        raise HTTPException(503, "no stored embeddings to compare with")
    answer = {
        "emotion": best.emotion if best else None,
        "confidence": round(best.confidence, 4) if best else None,
        "knn": prediction_json(vote),
        "classifier": prediction_json(head),
        "face": crop.method,
    }
    return answer | model_answer(scores)


@router.get("/images/{path:path}", dependencies=[Depends(require_key)])
def image(request: Request, path: str) -> StreamingResponse:
    """A stored image, streamed from the lake."""
    lake = engine_of(request).lake
    name = image_object(path, IMAGES_PREFIX)
    full = lake.path(name)
    if not lake.fs.exists(full):
        raise HTTPException(404, f"no image {path!r}")

    def chunks():
        with lake.fs.open(full, "rb") as stream:
            while chunk := stream.read(65536):
                yield chunk

    return StreamingResponse(chunks(), media_type=mimetypes.guess_type(name)[0] or "application/octet-stream")


@router.get("/healthz")
def healthz(request: Request) -> dict:
    """Liveness, the database answering and the served model (no key needed, no data returned)."""
    engine = engine_of(request)
    with engine.pool.connection() as conn:
        conn.execute("SELECT 1")
    served = engine.emotion_model.current()
    health = {"status": "ok", "model_version": served[0] if served else None}
    if engine.emotion_model.problem:
        health |= {"status": "degraded", "problem": engine.emotion_model.problem}
    return health
