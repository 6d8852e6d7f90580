"""What the HTTP service and the CLI share: query image -> FER face -> embedding -> neighbours -> emotion, and
the served emotion_model's scores and expression space."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace

import numpy as np
import psycopg
import torch
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from fer_platform.embeddings.embedder import forward
from fer_platform.embeddings.model import SEED_TRANSFORM
from fer_platform.factory import Platform
from fer_platform.images.decode import decode_image
from fer_platform.images.face import face_pixels, to_fer_face
from fer_platform.models.lifecycle.registry import EMOTION_CLASSIFIER, EMOTION_MODEL
from fer_platform.postgres.dsn import describe
from fer_platform.search.query import Neighbor, ids_of, nearest, stored_image
from fer_platform.service.query_face import ExpressionOutput, Prediction, QueryFace, knn_vote
from fer_platform.service.readiness import Catalogue, content_problem, model_problem, query_model, replica_problem
from fer_platform.service.served_model import ServedModel
from fer_platform.settings import FerSettings
from fer_platform.table.aggregates import model_counts
from fer_platform.table.aggregates import stored as stored_partitions
from fer_platform.table.expression import EXPRESSION_TABLE, expression_vector, holds_version
from fer_platform.table.schema import DEFAULT_TABLE

log = logging.getLogger(__name__)
POOL_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 5000
CATALOGUE_TTL_S = 30.0
QUERY_DRAFT_SIDE = 1024  # JPEG photos are decoded at reduced scale, enough to find and crop a face


class SpaceUnavailableError(RuntimeError):
    """A space cannot be searched now (no query model, no expression vectors); the message says what fixes it."""


class UnknownEmotionError(ValueError):
    """A filter names no stored emotion (the message names those there are)."""


class StoredImageNotFoundError(LookupError):
    """``/similar/{id}`` names no stored image."""


VOTE_NEIGHBOURS = 15
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
NO_EMOTION_MODEL = "no emotion_model is promoted: run the job train_emotion_model first"


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
        self._catalogue: tuple[float, Catalogue] = (float("-inf"), Catalogue({}, {}))
        self.model, self.model_error = query_model(platform, self.stored_model_ids())

    def stored_model_ids(self) -> list[str | None]:
        """The model ids of the stored rows, or none when the replica cannot say yet (``--wait``)."""
        try:
            return list(self.catalogue().models)
        except psycopg.Error:
            return []

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
        """The replica's emotions and embedding models, as its triggers maintain them (two small reads, never a
        count of the table; re-read at most every CATALOGUE_TTL_S)."""
        read_at, catalogue = self._catalogue
        if time.monotonic() - read_at > CATALOGUE_TTL_S:
            with self.pool.connection() as conn:
                emotions = {e: a.rows for e, a in sorted(stored_partitions(conn, self.table).items())}
                catalogue = Catalogue(emotions, model_counts(conn, self.table))
            self._catalogue = (time.monotonic(), catalogue)
        return catalogue

    def stored_emotions(self) -> list[str]:
        """The emotions the replica holds."""
        return list(self.catalogue().emotions)

    def valid_emotion(self, emotion: str | None) -> str | None:
        """``emotion`` when it is None or a stored emotion; else UnknownEmotionError naming the stored ones."""
        if emotion is None or emotion in (stored := self.stored_emotions()):
            return emotion
        if CONTROL_CHARACTERS.search(emotion):
            raise UnknownEmotionError("emotion must not contain control characters")
        raise UnknownEmotionError(f"unknown emotion {emotion!r}: the stored emotions are {', '.join(stored)}")

    def embed(
        self, data: bytes, with_seed: bool = True, with_expression: bool = False, with_classifier: bool = False
    ) -> QueryFace:
        """Everything the models asked for say of the query image, computed in one go (the service holds an
        admission slot for it): the face cropped to 48x48 grayscale; with ``with_seed`` its seed vector made as
        the stored ones were (the ResNet18 runs only then); with ``with_expression`` and an emotion_model served
        that model's scores and features; with ``with_classifier`` (and the seed vector) the served classifier
        head's emotion."""
        if with_seed and self.model is None:
            raise SpaceUnavailableError(self.model_error)
        crop = to_fer_face(decode_image(data, draft_side=QUERY_DRAFT_SIDE))
        vector = forward(self.model, SEED_TRANSFORM(crop.image).unsqueeze(0))[0] if with_seed else None
        head = self.classify(vector) if with_classifier and vector is not None else None
        served = self.emotion_model.current() if with_expression else None
        if served is None:
            return QueryFace(vector, crop, None, head)
        version, model = served
        probabilities, features = model.infer(torch.from_numpy(face_pixels(crop.image))[None])
        scores = {c: float(p) for c, p in zip(model.classes, probabilities[0], strict=True)}
        return QueryFace(vector, crop, ExpressionOutput(version, scores, features[0]), head)

    def classify(self, vector: np.ndarray) -> Prediction | None:
        """The served classifier head's emotion of a seed vector; None without a head trained on this model's
        vectors."""
        served = self.classifier.current()
        if served is None:
            return None
        version, head = served
        if self.model is None or head.embedding_model_id != self.model.model_id:
            log.warning("classifier %s was trained on vectors of %s: not used", version, head.embedding_model_id)
            return None
        probabilities = head.probabilities(vector)[0]
        best = int(probabilities.argmax())
        return Prediction(head.classes[best], float(probabilities[best]), f"classifier:{version}")

    def serves_expression(self) -> bool:
        """Whether an emotion_model is served (its scores then answer predictions: no vote, no head)."""
        return self.emotion_model.current() is not None

    def search(self, vector: np.ndarray, k: int, emotion: str | None = None) -> list[Neighbor]:
        with self.pool.connection() as conn:
            return nearest(conn, self.table, vector, k, emotion, ef_search=self.ef_search)

    def search_and_vote(
        self, vector: np.ndarray, k: int, emotion: str | None = None
    ) -> tuple[list[Neighbor], Prediction | None]:
        """The k nearest stored images and the vote of the ``VOTE_NEIGHBOURS`` nearest, from one query when
        there is no emotion filter (a filtered answer cannot vote: a second, unfiltered query)."""
        if emotion is not None:
            return self.search(vector, k, emotion), self.vote(vector)
        found = self.search(vector, max(k, VOTE_NEIGHBOURS))
        return found[:k], knn_vote(found[:VOTE_NEIGHBOURS])

    def vote(self, vector: np.ndarray) -> Prediction | None:
        """The distance-weighted vote of the seed vector's nearest stored images."""
        return knn_vote(self.search(vector, VOTE_NEIGHBOURS))

    def expression_search(self, face: QueryFace, k: int, emotion: str | None = None) -> list[Neighbor]:
        """Neighbours in the served emotion_model's expression space (same expression, not same person)."""
        if face.expression is None:
            raise SpaceUnavailableError(NO_EMOTION_MODEL)
        with self.pool.connection() as conn:
            return self.expression_neighbours(conn, face.expression.features, face.expression.version, k, emotion)

    def expression_neighbours(
        self, conn: psycopg.Connection, features: np.ndarray, version: str, k: int, emotion: str | None,
        exclude: str | None = None,
    ) -> list[Neighbor]:
        """The k rows of ``version`` nearest to ``features`` (``exclude``: a file path left out), with the ids of
        their images in the seed table, so that every result can be searched from."""
        if not holds_version(conn, version):
            raise SpaceUnavailableError(
                f"{EXPRESSION_TABLE} holds no vectors of emotion_model {version}: materialize expression_vectors"
            )
        found = nearest(
            conn, EXPRESSION_TABLE, features, k + 1, emotion, self.ef_search, model_version=version, halfvec=False
        )
        ids = ids_of(conn, self.table, [n.filepath for n in found])
        kept = [replace(n, id=ids[n.filepath]) for n in found if n.filepath in ids and n.filepath != exclude]
        return kept[:k]

    def similar(self, row_id: int, space: str, k: int, emotion: str | None = None) -> list[Neighbor]:
        """"More like this": the k stored images nearest to stored image ``row_id`` (itself left out), in the seed's
        space or the served emotion_model's."""
        with self.pool.connection() as conn:
            stored = stored_image(conn, self.table, row_id)
            if stored is None:
                raise StoredImageNotFoundError(f"no stored image with id {row_id}")
            if space == "seed":
                found = nearest(conn, self.table, stored.vector, k + 1, emotion, self.ef_search)
                return [n for n in found if n.id != row_id][:k]
            served = self.emotion_model.current()
            if served is None:
                raise SpaceUnavailableError(NO_EMOTION_MODEL)
            features = expression_vector(conn, stored.filepath, served[0])
            if features is None:
                raise SpaceUnavailableError(
                    f"image {row_id} has no expression vector of emotion_model {served[0]} yet: "
                    "expression_vectors computes it after each replica change"
                )
            return self.expression_neighbours(conn, features, served[0], k, emotion, exclude=stored.filepath)

    def close(self) -> None:
        self.pool.close()
