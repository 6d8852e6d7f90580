"""The query image of ``POST /search`` and ``/predict``: read within the limit, decoded and run through the models
in one admission slot, and checked request values (``emotion``)."""

from __future__ import annotations

from fastapi import HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from fer_platform.images.decode import ImageDecodeError
from fer_platform.service.engine import SearchEngine, UnknownEmotionError
from fer_platform.service.query_face import QueryFace


def engine_of(request: Request) -> SearchEngine:
    return request.app.state.engine


async def query_face(
    request: Request, file: UploadFile, with_seed: bool, with_expression: bool, with_classifier: bool
) -> QueryFace:
    """The upload decoded once and run through each model asked for (``SearchEngine.embed``) in one of the
    admission slots; 413 over the limit, 415 when it is not an image, 503 when every slot is taken or the query
    model cannot embed comparably to the stored rows (the reason says which setting or job fixes it)."""
    engine = engine_of(request)
    problem = await run_in_threadpool(engine.query_model_problem) if with_seed else None
    if problem:
        raise HTTPException(503, problem)
    limit = request.app.state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"upload larger than {limit} bytes")
    async with request.app.state.admission.slot():
        try:
            return await run_in_threadpool(engine.embed, data, with_seed, with_expression, with_classifier)
        except ImageDecodeError as exc:
            raise HTTPException(415, f"{file.filename or 'the upload'} is not a usable image: {exc}") from exc


def valid_emotion(request: Request, emotion: str | None) -> str | None:
    """``emotion`` if it is None or one of the stored emotions; 422 naming them otherwise."""
    try:
        return engine_of(request).valid_emotion(emotion)
    except UnknownEmotionError as exc:
        raise HTTPException(422, str(exc)) from exc
