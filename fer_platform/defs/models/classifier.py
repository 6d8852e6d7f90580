"""``emotion_classifier``: an MLP head trained on the train split's stored embeddings, evaluated on the
test split, registered as a new version in the lake (seed 002: fine-tune, register, deploy)."""

import hashlib

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, MetadataValue, asset, define_asset_job

from fer_platform.defs.models.metadata import evaluation_metadata
from fer_platform.embeddings.cached import embed_through_store
from fer_platform.embeddings.vector_store import PgVectorStore
from fer_platform.images.folders import discover_emotions
from fer_platform.images.manifest import list_emotion_files
from fer_platform.lake.layout import model_prefix
from fer_platform.models.head import EPOCHS, evaluate, fit_head
from fer_platform.models.lifecycle.registry import EMOTION_CLASSIFIER, register_classifier
from fer_platform.orchestration import names
from fer_platform.orchestration.resources import (
    EmbedderResource,
    ImagesResource,
    LakeResource,
    PostgresResource,
    RayResource,
)
from fer_platform.progress import Progress
from fer_platform.table.aggregates import model_counts
from fer_platform.table.schema import DEFAULT_TABLE

TRAIN_SPLIT, TEST_SPLIT = "train", "test"


def train_rows(
    embeddings: pl.DataFrame, emotions: list[str], postgres: PostgresResource
) -> tuple[np.ndarray, list[str], str]:
    """(vectors, emotions, model id) of the train-split rows among the loaded emotion partitions."""
    frame = embeddings.filter(pl.col("filepath").str.starts_with(f"{TRAIN_SPLIT}/"))
    if frame.is_empty():
        raise ValueError(
            f"{DEFAULT_TABLE} holds no {TRAIN_SPLIT}/ rows for the emotion partitions {emotions}: "
            f"materialize embeddings_table with FER_SPLIT=train first"
        )
    with postgres.connect(vector=False) as conn:
        models = [m for m in model_counts(conn, DEFAULT_TABLE) if m is not None]
    if len(models) != 1:
        raise ValueError(f"{DEFAULT_TABLE} mixes embedding models {models}: re-embed before training")
    return frame["vector"].to_numpy().astype(np.float32), frame["emotion"].to_list(), models[0]


def test_split(
    context: AssetExecutionContext,
    images: ImagesResource,
    embedder: EmbedderResource,
    postgres: PostgresResource,
    ray: RayResource,
) -> tuple[np.ndarray, list[str]]:
    """The test split's vectors, taken from the vector store where its bytes were embedded before (the
    split is never stored in the table); only new or changed images go through the model (on Ray when
    FER_RAY_ADDRESS is set)."""
    labels_by_digest, files = {}, {}
    for emotion in discover_emotions(images.root, TEST_SPLIT):
        for path in list_emotion_files(images.root, TEST_SPLIT, emotion):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            files.setdefault(digest, path)
            labels_by_digest.setdefault(digest, []).append(emotion)
    if not files:
        raise ValueError(f"no {TEST_SPLIT}/<emotion>/ images under {images.root} to evaluate on")
    with embedder.engine(ray) as (engine, _):
        store = PgVectorStore(postgres.conninfo(), engine.model_id)  # the engine's id: its precision decides
        store.prepare()
        found = embed_through_store(engine, files, store, TEST_SPLIT, context.log.info)
    context.log.info(
        f"test split: {len(files)} distinct images, {found.computed} through the model"
        + (" (ran the model on no image: every vector came from the store)" if not found.computed else "")
        + f", {len(files) - found.computed - len(found.failures)} from the store"
    )
    stored = store.lookup([d for d in files if d in found.held])  # the test split: small, read whole
    digests = [d for d in files if d in stored]
    vectors = np.stack([stored[d] for d in digests for _ in labels_by_digest[d]])
    return vectors, [label for d in digests for label in labels_by_digest[d]]


@asset(
    name=names.EMOTION_CLASSIFIER,
    ins={"embeddings": AssetIn(names.EMBEDDINGS_TABLE)},
    kinds={"pytorch", "adls"},
)
def emotion_classifier(
    context: AssetExecutionContext,
    embeddings: pl.DataFrame,
    postgres: PostgresResource,
    images: ImagesResource,
    embedder: EmbedderResource,
    lake: LakeResource,
    ray: RayResource,
) -> MaterializeResult:
    """MLP head (512 -> 256 -> emotions) on the stored train embeddings (every emotion partition, loaded by
    the pgvector IO manager), scored on the test split (vectors from the store when its bytes are there),
    registered and promoted as the next version under the lake's models/emotion_classifier/ with its metrics.
    The service serves the promoted version unless FER_CLASSIFIER_VERSION pins one."""
    emotions = sorted(context.asset_partition_keys_for_input("embeddings"))
    vectors, labels, model_id = train_rows(embeddings, emotions, postgres)
    training = Progress("emotion_classifier training", EPOCHS, context.log.info, unit="epochs")
    head = fit_head(vectors, labels, model_id, on_epoch=training.advance)
    training.finish()
    test_vectors, test_labels = test_split(context, images, embedder, postgres, ray)
    evaluation = evaluate(head, test_vectors, test_labels)
    metrics = evaluation.as_dict() | {"train_samples": len(labels), "embedding_model_id": model_id}
    version = register_classifier(lake.lake(), head, metrics)
    context.log.info(f"emotion_classifier {version}: test accuracy {evaluation.accuracy:.1%}")
    return MaterializeResult(
        metadata={
            "version": version,
            "train_samples": len(labels),
            **evaluation_metadata(evaluation),
            "model_path": MetadataValue.path(f"{lake.lake_url}/{model_prefix(EMOTION_CLASSIFIER)}/{version}/model.pt"),
            "embedding_model_id": model_id,
        }
    )


train_emotion_classifier = define_asset_job(
    names.CLASSIFIER_JOB, selection=[names.EMOTION_CLASSIFIER], description="Train and register an emotion head."
)
