"""The API's answers as Pydantic models, so ``/openapi.json`` carries their schemas and clients can generate types.

Every route declares its answer (``response_model``) and its refusals (``ERRORS``);
a test validates real answers of every route against these schemas.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from fer_platform.lake.layout import image_path
from fer_platform.search.query import Neighbor

Space = Literal["seed", "expression"]


class Neighbour(BaseModel):
    """One stored image close to the query."""

    id: int = Field(description="The image's row id in imagenes_fer: GET /similar/{id} searches from it.")
    filepath: str = Field(description="Where the image lives in the lake.")
    emotion: str
    distance: float = Field(description="Cosine distance to the query (0 = same direction).")
    image_url: str = Field(description="GET it (with the key) for the image's bytes.")


class Vote(BaseModel):
    """One predictor's emotion: the neighbours' vote or the registered classifier head."""

    emotion: str
    confidence: float
    source: str = Field(description='"knn" or "classifier:<version>".')


class PredictAnswer(BaseModel):
    """The emotion of the face: the served emotion_model's when one is promoted (with ``scores``), else the
    classifier head's, else the neighbours' vote."""

    emotion: str | None
    confidence: float | None
    knn: Vote | None
    classifier: Vote | None
    face: str = Field(description="How the face was found: haar, as-is or center-crop.")
    scores: dict[str, float] | None = Field(None, description="The emotion_model's probability per emotion.")
    model_version: str | None = Field(None, description="The emotion_model version that gave the scores.")


class SearchAnswer(BaseModel):
    """The k nearest stored images, in ``space``."""

    results: list[Neighbour]
    face: str | None = Field(description="How the query's face was found; null when searching from a stored image.")
    space: Space
    query_id: int | None = Field(None, description="The stored image searched from (GET /similar/{id}).")
    prediction: PredictAnswer | None = Field(None, description="With predict=true: what POST /predict answers.")


class EmotionCount(BaseModel):
    emotion: str
    images: int


class EmotionsAnswer(BaseModel):
    """The emotions the replica holds: the values ``emotion=`` accepts."""

    emotions: list[EmotionCount]
    max_upload_bytes: int = Field(description="The largest query image accepted (FER_MAX_UPLOAD_BYTES).")


class Health(BaseModel):
    """``ok``, ``degraded`` (a promoted or pinned model cannot be loaded: ``problem``) or, with 503,
    ``unavailable`` (``reason``)."""

    status: Literal["ok", "degraded", "unavailable"]
    model_version: str | None = None
    problem: str | None = None
    reason: str | None = None


class ErrorAnswer(BaseModel):
    """A refusal or an error: ``detail`` says why (a list of field errors for a malformed request);
    ``error_id`` finds the traceback of an internal error in the server's log."""

    detail: str | list[dict[str, Any]]
    error_id: str | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can refuse with ``statuses``."""
    return {status: {"model": ErrorAnswer} for status in statuses}


def search_answer(
    neighbours: list[Neighbor], space: Space, face: str | None = None, query_id: int | None = None
) -> SearchAnswer:
    """What ``POST /search`` and ``GET /similar/{id}`` answer (and ``fer-platform search --json`` prints)."""
    results = []
    for n in neighbours:
        path = image_path(n.filepath)
        distance = round(n.distance, 6)
        results.append(Neighbour(id=n.id, filepath=path, emotion=n.emotion, distance=distance, image_url=f"/images/{path}"))
    return SearchAnswer(results=results, face=face, space=space, query_id=query_id)
