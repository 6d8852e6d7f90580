"""The API routes: ``POST /search`` (``space=seed|expression``, ``predict=true`` for the emotion too),
``GET /similar/{id}`` (search from a stored image), ``POST /predict``, ``GET /emotions``, ``GET /images/{path}``,
``GET /healthz``. Every answer is a ``service.schemas`` model.

The key and the body size are enforced before the body is read, by
``service.guard``; here: a file that is not an image is a 415 that says so,
``emotion`` must be a stored emotion, ``/images`` serves only image objects under
the lake's image prefix with the type their bytes show. The engine, settings and
admission control are the app's state (``create_app`` puts them there).
"""

from __future__ import annotations

import posixpath

from fastapi import APIRouter, File, HTTPException, Path, Query, Request, Security, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPBearer

from fer_platform.images.decode import SNIFF_BYTES, sniff_image_type
from fer_platform.lake.layout import IMAGES_PREFIX
from fer_platform.search.query import MAX_K
from fer_platform.service.engine import CONTROL_CHARACTERS, SpaceUnavailableError, StoredImageNotFoundError
from fer_platform.service.query_face import Prediction, QueryFace
from fer_platform.service.schemas import (
    EmotionCount,
    EmotionsAnswer,
    Health,
    PredictAnswer,
    SearchAnswer,
    Space,
    Vote,
    errors,
    search_answer,
)
from fer_platform.service.upload import engine_of, query_face, valid_emotion

bearer = HTTPBearer(auto_error=False)  # declares the key in the OpenAPI docs; RequestGuard enforces it
KEYED = [Security(bearer)]
router = APIRouter()
MAX_ROW_ID = 2**63 - 1  # imagenes_fer.id is a bigint
K = Query(5, ge=1, le=MAX_K, description="How many neighbours.")
EMOTION = Query(None, description="Only neighbours of this emotion (one of GET /emotions).")
SPACE = Query("seed", description="seed: the seed's ResNet18 vectors (same look); expression: the emotion_model's.")


def image_object(path: str, images_prefix: str) -> str:
    """The lake object for ``/images/{path}``; anything outside the image prefix is refused."""
    normal = posixpath.normpath(path)
    if path.startswith("/") or normal != path or not normal.startswith(f"{images_prefix}/"):
        raise HTTPException(404, f"no image {path!r} under {images_prefix}/")
    return normal


def vote_answer(prediction: Prediction | None) -> Vote | None:
    if prediction is None:
        return None
    return Vote(emotion=prediction.emotion, confidence=round(prediction.confidence, 4), source=prediction.source)


def predict_answer(face: QueryFace, vote: Prediction | None) -> PredictAnswer:
    """The emotion: the served emotion_model's (with every score and its version), else the classifier head's,
    else the neighbours' vote; 503 when there is none of them."""
    best = face.classifier or vote
    answer = PredictAnswer(
        emotion=best.emotion if best else None,
        confidence=round(best.confidence, 4) if best else None,
        knn=vote_answer(vote),
        classifier=vote_answer(face.classifier),
        face=face.crop.method,
    )
    if face.expression is not None:
        scores = face.expression.scores
        top = max(scores, key=scores.__getitem__)
        answer.emotion, answer.confidence = top, round(scores[top], 4)
        answer.scores = {emotion: round(p, 6) for emotion, p in scores.items()}
        answer.model_version = face.expression.version
    elif best is None:
        raise HTTPException(503, "no stored embeddings to compare with")
    return answer


@router.post("/search", dependencies=KEYED, response_model=SearchAnswer, responses=errors(401, 413, 415, 422, 503))
async def search(
    request: Request,
    file: UploadFile = File(..., description="The query image (any format PIL reads)."),
    k: int = K,
    emotion: str | None = EMOTION,
    space: Space = SPACE,
    predict: bool = Query(False, description="Also answer what POST /predict answers, from the same upload."),
) -> SearchAnswer:
    """The k stored images most similar to the uploaded one: in the seed's space (same person, pose,
    lighting) or, with ``space=expression``, in the trained emotion_model's (same expression). With
    ``predict=true`` the answer holds the prediction too: one upload, one decode, one pass of each model needed
    (the seed's ResNet18 only for the seed space or a prediction without an emotion_model), one nearest-neighbour
    query (its neighbours vote, when a vote is needed and no emotion filter is set)."""
    engine = engine_of(request)
    emotion = valid_emotion(request, emotion)
    voting = predict and not engine.serves_expression()
    face = await query_face(
        request, file, with_seed=space == "seed" or voting, with_expression=predict or space == "expression",
        with_classifier=voting,
    )
    vote = None
    try:
        if space == "expression":
            neighbours = await run_in_threadpool(engine.expression_search, face, k, emotion)
            vote = await run_in_threadpool(engine.vote, face.vector) if voting else None
        elif voting:
            neighbours, vote = await run_in_threadpool(engine.search_and_vote, face.vector, k, emotion)
        else:
            neighbours = await run_in_threadpool(engine.search, face.vector, k, emotion)
    except SpaceUnavailableError as exc:
        raise HTTPException(503, str(exc)) from exc
    answer = search_answer(neighbours, space, face=face.crop.method)
    if predict:
        answer.prediction = predict_answer(face, vote)
    return answer


@router.get("/similar/{id}", dependencies=KEYED, response_model=SearchAnswer, responses=errors(401, 404, 422, 503))
def similar(
    request: Request,
    id: int = Path(ge=1, le=MAX_ROW_ID, description="A stored image's id (a result's id)."),  # noqa: A002
    k: int = K,
    emotion: str | None = EMOTION,
    space: Space = SPACE,
) -> SearchAnswer:
    """"More like this": the k stored images nearest to stored image ``id`` (itself left out), without an
    upload; the same answer as ``POST /search`` with ``face`` null."""
    engine = engine_of(request)
    emotion = valid_emotion(request, emotion)
    try:
        neighbours = engine.similar(id, space, k, emotion)
    except StoredImageNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except SpaceUnavailableError as exc:
        raise HTTPException(503, str(exc)) from exc
    return search_answer(neighbours, space, query_id=id)


@router.post("/predict", dependencies=KEYED, response_model=PredictAnswer, responses=errors(401, 413, 415, 503))
async def predict(request: Request, file: UploadFile = File(..., description="The query image.")) -> PredictAnswer:
    """The emotion of the face: from the served emotion_model (with ``scores`` for every emotion) when one is
    promoted (the seed's ResNet18 and the neighbours are then not asked), else the trained head when one is
    registered, else the neighbours' vote."""
    engine = engine_of(request)
    voting = not engine.serves_expression()
    face = await query_face(request, file, with_seed=voting, with_expression=True, with_classifier=voting)
    return predict_answer(face, await run_in_threadpool(engine.vote, face.vector) if voting else None)


@router.get("/emotions", dependencies=KEYED, response_model=EmotionsAnswer, responses=errors(401, 503))
def emotions(request: Request) -> EmotionsAnswer:
    """The stored emotions and their image counts (what ``emotion=`` accepts), and the upload limit."""
    counts = engine_of(request).catalogue().emotions
    return EmotionsAnswer(
        emotions=[EmotionCount(emotion=e, images=n) for e, n in counts.items()],
        max_upload_bytes=request.app.state.settings.max_upload_bytes,
    )


@router.get(
    "/images/{path:path}",
    dependencies=KEYED,
    response_class=StreamingResponse,
    responses={200: {"content": {"image/*": {}}, "description": "The image's bytes."}, **errors(401, 404, 422)},
)
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


@router.get("/healthz", response_model=Health, response_model_exclude_unset=True, responses={503: {"model": Health}})
def healthz(request: Request) -> Health | JSONResponse:
    """503 with the reason while searches cannot be answered (``SearchEngine.serving_problem``); else the served
    model, "degraded" when a promoted or pinned model cannot be loaded (no key needed, no data returned)."""
    engine = engine_of(request)
    problem = engine.serving_problem()
    if problem:
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
    served = engine.emotion_model.current()
    version = served[0] if served else None
    if engine.emotion_model.problem:
        return Health(status="degraded", model_version=version, problem=engine.emotion_model.problem)
    return Health(status="ok", model_version=version)
