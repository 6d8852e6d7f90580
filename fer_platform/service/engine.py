"""What the HTTP service and the CLI share: query image -> FER face -> embedding -> neighbours -> emotion, and
the served emotion_model's scores and expression space."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import psycopg
import torch
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from fer_platform.embeddings.embedder import forward
from fer_platform.embeddings.model import SEED_TRANSFORM, LoadedModel, WeightsUnavailableError
from fer_platform.factory import Platform
from fer_platform.images.decode import decode_image
from fer_platform.images.face import FaceCrop, face_pixels, to_fer_face
from fer_platform.lake.layout import image_path
from fer_platform.models.registry import EMOTION_CLASSIFIER, EMOTION_MODEL
from fer_platform.postgres.dsn import describe
from fer_platform.search.query import Neighbor, nearest
from fer_platform.service.readiness import content_problem, model_problem, replica_problem
from fer_platform.service.served_model import ServedModel
from fer_platform.settings import FerSettings
from fer_platform.table.expression import EXPRESSION_TABLE, rows_of_version
from fer_platform.table.rows import emotion_counts, model_counts
from fer_platform.table.schema import DEFAULT_TABLE

log = logging.getLogger(__name__)
POOL_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 5000
CATALOGUE_TTL_S = 30.0
QUERY_DRAFT_SIDE = 1024  # JPEG photos are decoded at reduced scale, enough to find and crop a face


class SpaceUnavailableError(RuntimeError):
    """A space cannot be searched now (no query model, no expression vectors); the message says what fixes it."""


VOTE_NEIGHBOURS = 15


@dataclass(frozen=True)
class ExpressionOutput:
    """The served emotion_model's view of a query face."""

    version: str
    scores: dict[str, float]  # probability per emotion
    features: np.ndarray  # L2-normalised, comparable with expression_vectors


@dataclass(frozen=True)
class QueryFace:
    vector: np.ndarray  # the seed's ResNet18 vector
    crop: FaceCrop
    expression: ExpressionOutput | None  # None unless asked for and an emotion_model is served


@dataclass(frozen=True)
class Catalogue:
    """What the replica's table holds, as the service checks requests against it."""

    emotions: list[str]
    models: dict[str | None, int]  # rows per embedding model id


def query_model(platform: Platform) -> tuple[LoadedModel | None, str | None]:
    """The model that embeds queries, loaded at start (never lazily at the first request), or why it cannot be."""
    try:
        return platform.query_model(), None
    except WeightsUnavailableError as exc:
        return None, f"the query model cannot be loaded: {exc}"


@dataclass(frozen=True)
class Prediction:
    emotion: str
    confidence: float
    source: str  # "knn" or "classifier:<version>"


def knn_vote(neighbours: list[Neighbor]) -> Prediction | None:
    """Distance-weighted vote: each neighbour counts 1 / (cosine distance + 0.001)."""
    if not neighbours:
        return None
    weights: dict[str, float] = defaultdict(float)
    for n in neighbours:
        weights[n.emotion] += 1.0 / (max(n.distance, 0.0) + 1e-3)
    emotion = max(weights, key=weights.__getitem__)
    return Prediction(emotion, weights[emotion] / sum(weights.values()), "knn")


class SearchEngine:
    """The query model, a connection pool on the replica, the lake, and the served emotion_model and classifier."""

    def __init__(self, settings: FerSettings, table: str = DEFAULT_TABLE):
        platform = Platform(settings)
        self.table, self.ef_search = table, settings.ef_search
        self.lake = platform.lake()
        self.replica_dsn = replica = platform.replica_dsn()
        # A pin naming no version stops the service here, not at the first request.
        self.emotion_model, self.classifier = (
            ServedModel(platform.model_registry(name), platform.pinned_version(name), platform.device())
            for name in (EMOTION_MODEL, EMOTION_CLASSIFIER)
        )
        # Short waits: a lost database is a 503 within seconds, never a worker held for 30 s.
        self.pool = ConnectionPool(
            replica,
            min_size=1,
            max_size=8,
            timeout=POOL_TIMEOUT_S,
            kwargs={"connect_timeout": POOL_TIMEOUT_S, "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"},
            configure=register_vector,
            open=True,
        )
        self._catalogue: tuple[float, Catalogue] = (float("-inf"), Catalogue([], {}))
        self.model, self.model_error = query_model(platform)

    def serving_problem(self) -> str | None:
        """Why searches cannot be answered now, or None: the query model cannot be loaded, the replica cannot
        serve, or its rows were embedded by another model. Asked through the pool, so frequent probes open no
        connections; only when the pool has none to give does a connection of its own find out why."""
        if self.model is None:
            return self.model_error
        try:
            with self.pool.connection() as conn:
                problem = content_problem(conn, describe(self.replica_dsn), self.table)
        except psycopg.OperationalError:  # PoolTimeout included
            return replica_problem(self.replica_dsn, self.table)
        return problem or self.query_model_problem()

    def query_model_problem(self) -> str | None:
        """Why queries cannot be embedded comparably to the stored rows, or None (the stored model ids are
        re-read at most every CATALOGUE_TTL_S, so a request costs no scan)."""
        if self.model is None:
            return self.model_error
        return model_problem(self.catalogue().models, self.model.model_id, self.table)

    def catalogue(self) -> Catalogue:
        """The replica's emotions and embedding models (re-read at most every CATALOGUE_TTL_S)."""
        read_at, catalogue = self._catalogue
        if time.monotonic() - read_at > CATALOGUE_TTL_S:
            with self.pool.connection() as conn:
                catalogue = Catalogue(sorted(emotion_counts(conn, self.table)), model_counts(conn, self.table))
            self._catalogue = (time.monotonic(), catalogue)
        return catalogue

    def stored_emotions(self) -> list[str]:
        """The emotions the replica holds."""
        return self.catalogue().emotions

    def embed(self, data: bytes, with_expression: bool = False) -> QueryFace:
        """Everything the models say of the query image, computed in one go (the service holds an admission slot
        for it): the face cropped to 48x48 grayscale, its seed vector made as the stored ones were, and, with
        ``with_expression`` and an emotion_model served, that model's scores and features."""
        if self.model is None:
            raise SpaceUnavailableError(self.model_error)
        crop = to_fer_face(decode_image(data, draft_side=QUERY_DRAFT_SIDE))
        vector = forward(self.model, SEED_TRANSFORM(crop.image).unsqueeze(0))[0]
        served = self.emotion_model.current() if with_expression else None
        if served is None:
            return QueryFace(vector, crop, None)
        version, model = served
        probabilities, features = model.infer(torch.from_numpy(face_pixels(crop.image))[None])
        scores = {c: float(p) for c, p in zip(model.classes, probabilities[0], strict=True)}
        return QueryFace(vector, crop, ExpressionOutput(version, scores, features[0]))

    def search(self, vector: np.ndarray, k: int, emotion: str | None = None) -> list[Neighbor]:
        with self.pool.connection() as conn:
            return nearest(conn, self.table, vector, k, emotion, ef_search=self.ef_search)

    def predict(self, vector: np.ndarray) -> tuple[Prediction | None, Prediction | None]:
        """(neighbour vote, classifier) predictions."""
        vote = knn_vote(self.search(vector, VOTE_NEIGHBOURS))
        served = self.classifier.current()
        if served is None:
            return vote, None
        version, head = served
        if self.model is None or head.embedding_model_id != self.model.model_id:
            log.warning("classifier %s was trained on vectors of %s: not used", version, head.embedding_model_id)
            return vote, None
        probabilities = head.probabilities(vector)[0]
        best = int(probabilities.argmax())
        return vote, Prediction(head.classes[best], float(probabilities[best]), f"classifier:{version}")

    def expression_search(self, face: QueryFace, k: int, emotion: str | None = None) -> list[Neighbor]:
        """Neighbours in the served emotion_model's expression space (same expression, not same person)."""
        if face.expression is None:
            raise SpaceUnavailableError("no emotion_model is promoted: run the job train_emotion_model first")
        version = face.expression.version
        with self.pool.connection() as conn:
            if rows_of_version(conn, version) == 0:
                raise SpaceUnavailableError(
                    f"{EXPRESSION_TABLE} holds no vectors of emotion_model {version}: materialize expression_vectors"
                )
            return nearest(
                conn, EXPRESSION_TABLE, face.expression.features, k, emotion, self.ef_search, model_version=version
            )

    def lake_path(self, filepath: str) -> str:
        """Where a stored image lives in the lake (the Parquet's filepath)."""
        return image_path(filepath)

    def close(self) -> None:
        self.pool.close()
