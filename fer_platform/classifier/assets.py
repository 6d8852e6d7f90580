"""``emotion_classifier``: an MLP head trained on the train split's stored embeddings, evaluated on the
test split, registered as a new version in the lake (seed 002: fine-tune, register, deploy)."""

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from fer_platform.classifier.registry import MODEL_PREFIX, register
from fer_platform.classifier.train import Evaluation, evaluate, fit_head
from fer_platform.embeddings.resource import ResNetEmbedder
from fer_platform.embeddings.store import model_ids, read_partitions
from fer_platform.lake.resource import LakeResource
from fer_platform.metadata import confusion_plot
from fer_platform.partitions import discover_emotions
from fer_platform.postgres.resource import PostgresResource
from fer_platform.raw_images.manifest import list_emotion_files
from fer_platform.raw_images.resource import ImageFolderResource

TRAIN_SPLIT, TEST_SPLIT = "train", "test"


def train_rows(postgres: PostgresResource, table: str) -> tuple[np.ndarray, list[str], str]:
    """(vectors, emotions, model id) of the stored train-split rows."""
    with postgres.connect() as conn:
        frame = read_partitions(conn, table, None)
        models = model_ids(conn, table)
    frame = frame.filter(pl.col("filepath").str.starts_with(f"{TRAIN_SPLIT}/"))
    if frame.is_empty():
        raise ValueError(f"{table} holds no {TRAIN_SPLIT}/ rows: materialize embeddings_table with FER_SPLIT=train")
    if len(models) != 1:
        raise ValueError(f"{table} mixes embedding models {models}: re-embed before training")
    return frame["vector"].to_numpy().astype(np.float32), frame["emotion"].to_list(), models[0]


def test_split(images: ImageFolderResource, embedder: ResNetEmbedder) -> tuple[np.ndarray, list[str]]:
    """The test split embedded now with the same model (it is never stored in the table)."""
    paths, labels = [], []
    for emotion in discover_emotions(images.root, TEST_SPLIT):
        files = list_emotion_files(images.root, TEST_SPLIT, emotion)
        paths += files
        labels += [emotion] * len(files)
    if not paths:
        raise ValueError(f"no {TEST_SPLIT}/<emotion>/ images under {images.root} to evaluate on")
    result = embedder.embed(paths)
    return result.vectors, [labels[i] for i in result.indices]


def recall_table(evaluation: Evaluation) -> MetadataValue:
    lines = ["| emotion | recall |", "|---|---:|"]
    lines += [f"| {c} | {r:.1%} |" for c, r in evaluation.recall.items()]
    return MetadataValue.md("\n".join(lines))


def build_emotion_classifier(table: str) -> AssetsDefinition:
    @asset(name="emotion_classifier", deps=["embeddings_table"], group_name="search", kinds={"pytorch", "adls"})
    def emotion_classifier(
        context: AssetExecutionContext,
        postgres: PostgresResource,
        images: ImageFolderResource,
        embedder: ResNetEmbedder,
        lake: LakeResource,
    ) -> MaterializeResult:
        """MLP head (512 -> 256 -> emotions) on the stored train embeddings, scored on the test split,
        saved as the next version under the lake's models/emotion_classifier/ with its metrics.
        The service loads the latest version unless FER_CLASSIFIER_VERSION pins one."""
        vectors, labels, model_id = train_rows(postgres, table)
        head = fit_head(vectors, labels, model_id)
        test_vectors, test_labels = test_split(images, embedder)
        evaluation = evaluate(head, test_vectors, test_labels)
        metrics = evaluation.as_dict() | {"train_samples": len(labels), "embedding_model_id": model_id}
        version = register(lake.lake(), head, metrics)
        context.log.info(f"emotion_classifier {version}: test accuracy {evaluation.accuracy:.1%}")
        return MaterializeResult(
            metadata={
                "version": version,
                "test_accuracy": evaluation.accuracy,
                "train_samples": len(labels),
                "test_samples": evaluation.samples,
                "recall_per_emotion": recall_table(evaluation),
                "confusion_matrix": confusion_plot(evaluation.classes, evaluation.confusion),
                "model_path": MetadataValue.path(f"{lake.lake_url}/{MODEL_PREFIX}/{version}/model.pt"),
                "embedding_model_id": model_id,
            }
        )

    return emotion_classifier
