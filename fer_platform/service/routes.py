"""The API routes: ``POST /search`` (``space=seed|expression``), ``POST /predict`` (per-emotion ``scores`` once
an emotion_model is served), ``GET /images/{path}``, ``GET /healthz``.

The key and the body size are enforced before the body is read, by
``service.guard``; here: a file that is not an image is a 415 that says so,
``emotion`` must be a stored emotion, ``/images`` serves only image objects under
the lake's image prefix with the type their bytes show. The engine, settings and
admission control are the app's state (``create_app`` puts them there).
"""

from __future__ import annotations

import posixpath
import re
from typing import Literal

from fastapi import APIRouter, File, HTTPException, Query, Request, Security, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPBearer

from fer_platform.images.decode import ImageDecodeError
from fer_platform.images.sniff import SNIFF_BYTES, sniff_image_type
from fer_platform.lake.layout import IMAGES_PREFIX
from fer_platform.search.query import MAX_K
from fer_platform.service.engine import ExpressionOutput, Prediction, QueryFace, SearchEngine, SpaceUnavailableError

bearer = HTTPBearer(auto_error=False)  # declares the key in the OpenAPI docs; RequestGuard enforces it
KEYED = [Security(bearer)]
router = APIRouter()
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def engine_of(request: Request) -> SearchEngine:
    return request.app.state.engine


async def query_face(request: Request, file: UploadFile, with_expression: bool) -> QueryFace:
    """The upload decoded and run through the models (``SearchEngine.embed``) in one of the admission slots; 413
    over the limit, 415 when it is not an image, 503 when every slot is taken or the query model cannot embed
    comparably to the stored rows (the reason says which setting or job fixes it)."""
    problem = await run_in_threadpool(engine_of(request).query_model_problem)
    if problem:
        raise HTTPException(503, problem)
    limit = request.app.state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"upload larger than {limit} bytes")
    async with request.app.state.admission.slot():
        try:
            return await run_in_threadpool(engine_of(request).embed, data, with_expression)
        except ImageDecodeError as exc:
            raise HTTPException(415, f"{file.filename or 'the upload'} is not a usable image: {exc}") from exc


def valid_emotion(request: Request, emotion: str | None) -> str | None:
    """``emotion`` if it is one of the stored emotions; 422 naming them otherwise (control characters too)."""
    if emotion is None:
        return None
    if CONTROL_CHARACTERS.search(emotion):
        raise HTTPException(422, "emotion must not contain control characters")
    stored = engine_of(request).stored_emotions()
    if emotion not in stored:
        raise HTTPException(422, f"unknown emotion {emotion!r}: the stored emotions are {', '.join(stored)}")
    return emotion


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


@router.post("/search", dependencies=KEYED)
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
    emotion = valid_emotion(request, emotion)
    face = await query_face(request, file, with_expression=space == "expression")
    try:
        if space == "expression":
            neighbours = await run_in_threadpool(engine.expression_search, face, k, emotion)
        else:
            neighbours = await run_in_threadpool(engine.search, face.vector, k, emotion)
    except SpaceUnavailableError as exc:
        raise HTTPException(503, str(exc)) from exc
    results = []
    for n in neighbours:
        path = engine.lake_path(n.filepath)
        results.append(
            {"filepath": path, "emotion": n.emotion, "distance": round(n.distance, 6), "image_url": f"/images/{path}"}
        )
    return {"results": results, "face": face.crop.method, "space": space}


def model_answer(expression: ExpressionOutput | None) -> dict:
    """The served emotion_model's part of /predict: its top emotion, every score and its version."""
    if expression is None:
        return {}
    scores = expression.scores
    top = max(scores, key=scores.__getitem__)
    return {
        "emotion": top,
        "confidence": round(scores[top], 4),
        "scores": {emotion: round(p, 6) for emotion, p in scores.items()},
        "model_version": expression.version,
    }


@router.post("/predict", dependencies=KEYED)
async def predict(request: Request, file: UploadFile = File(..., description="The query image.")) -> dict:
    """The emotion of the face: from the served emotion_model (with ``scores`` for every emotion) when one is
    promoted, else the trained head when one is registered, else the neighbours' vote."""
    engine = engine_of(request)
    face = await query_face(request, file, with_expression=True)
    vote, head = await run_in_threadpool(engine.predict, face.vector)
    best = head or vote
    if best is None and face.expression is None:
        raise HTTPException(503, "no stored embeddings to compare with")
    answer = {
        "emotion": best.emotion if best else None,
        "confidence": round(best.confidence, 4) if best else None,
        "knn": prediction_json(vote),
        "classifier": prediction_json(head),
        "face": face.crop.method,
    }
    return answer | model_answer(face.expression)


@router.get("/images/{path:path}", dependencies=KEYED)
def image(request: Request, path: str) -> StreamingResponse:
    """A stored image, streamed from the lake, with the content type its bytes show (never its name's)."""
    if CONTROL_CHARACTERS.search(path):
        raise HTTPException(422, "the path must not contain control characters")
    lake = engine_of(request).lake
    full = lake.path(image_object(path, IMAGES_PREFIX))
    if not lake.fs.isfile(full):
        raise HTTPException(404, f"no image {path!r}")
    stream = lake.fs.open(full, "rb")
    media_type = sniff_image_type(stream.read(SNIFF_BYTES))
    if media_type is None:
        stream.close()
        raise HTTPException(404, f"{path!r} is not an image")
    stream.seek(0)

    def chunks():
        with stream:
            while chunk := stream.read(65536):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type)


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """503 with the reason while searches cannot be answered (``SearchEngine.serving_problem``); else the served model, "degraded" when a promoted or
    pinned model cannot be loaded (no key needed, no data returned)."""
    engine = engine_of(request)
    problem = engine.serving_problem()
    if problem:
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
    served = engine.emotion_model.current()
    health = {"status": "ok", "model_version": served[0] if served else None}
    if engine.emotion_model.problem:
        health |= {"status": "degraded", "problem": engine.emotion_model.problem}
    return JSONResponse(health)
