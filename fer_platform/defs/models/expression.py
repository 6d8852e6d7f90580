"""``expression_vectors``: the served emotion_model's penultimate features of every stored image, per emotion,
on the replica beside the seed's vectors, so that search can find faces with the same expression."""

import hashlib

import numpy as np
import torch
from dagster import AssetExecutionContext, Failure, MaterializeResult, asset

from fer_platform.defs.models.resources import EmotionModelResource
from fer_platform.images.decode import ImageDecodeError, decode_image
from fer_platform.models.faces import face_pixels
from fer_platform.models.model import EmotionModel
from fer_platform.models.registry import EMOTION_MODEL, load_version, model_registry, served_version
from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImageFolderResource, LakeResource, PostgresResource
from fer_platform.table.expression import (
    EXPRESSION_TABLE,
    ExpressionRow,
    ensure_expression_table,
    seed_filepaths,
    stored_expressions,
    write_expressions,
)
from fer_platform.table.schema import DEFAULT_TABLE

BATCH = 512


def served_model(settings: EmotionModelResource, lake: LakeResource) -> tuple[str, EmotionModel]:
    registry = model_registry(lake.lake(), EMOTION_MODEL)
    version = served_version(registry, settings.version)
    if version is None:
        raise Failure("no emotion_model version is promoted yet: run the job train_emotion_model first")
    return version, load_version(registry, version, settings.torch_device())


def changed_faces(
    images: ImageFolderResource, emotion: str, paths: list[str], stored: dict[str, tuple], version: str
) -> tuple[list[tuple[str, str, np.ndarray]], dict[str, str]]:
    """(path, sha256, pixels) of the images whose bytes or model version differ from the stored row; failures."""
    todo, failures = [], {}
    for path in paths:
        try:
            data = images.resolve(path).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if stored.get(path) == (digest, version):
                continue
            todo.append((path, digest, face_pixels(decode_image(data))))
        except (OSError, ImageDecodeError) as exc:
            failures[path] = str(exc)
    return todo, failures


@asset(
    name=names.EXPRESSION_VECTORS,
    partitions_def=EMOTION_PARTITIONS,
    deps=[names.EMOTION_MODEL, names.AZURE_REPLICA],
    group_name="models",
    kinds={"pytorch", "postgres"},
)
def expression_vectors(
    context: AssetExecutionContext,
    images: ImageFolderResource,
    replica: PostgresResource,
    emotion_model_settings: EmotionModelResource,
    lake: LakeResource,
) -> MaterializeResult:
    """Ten-crop mean penultimate features (L2-normalised) of the served emotion_model for every image of the
    emotion in the replica's imagenes_fer, in imagenes_fer_expression (HNSW, cosine); only images whose content
    or model version changed are recomputed, rows of images no longer stored are removed."""
    emotion = context.partition_key
    version, model = served_model(emotion_model_settings, lake)
    with replica.connect() as conn:
        paths = seed_filepaths(conn, emotion, DEFAULT_TABLE)
        if ensure_expression_table(conn, model.feature_dim):
            context.log.warning(f"{EXPRESSION_TABLE} held vectors of another size: recreated for {version}")
        stored = stored_expressions(conn, emotion)
        todo, failures = changed_faces(images, emotion, paths, stored, version)
        rows = []
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            _, features = model.infer(torch.from_numpy(np.stack([pixels for _, _, pixels in chunk])))
            rows += [ExpressionRow(p, emotion, d, f) for (p, d, _), f in zip(chunk, features, strict=True)]
        removed = sorted(set(stored) - set(paths))
        write_expressions(conn, version, rows, removed)
    context.log.info(f"{emotion}: {len(rows)} expression vectors computed with {version}, {len(removed)} removed")
    return MaterializeResult(
        metadata={
            "model_version": version,
            "computed": len(rows),
            "unchanged": len(paths) - len(rows) - len(failures),
            "removed": len(removed),
            "failed": len(failures),
            "failures": failures_table(failures),
            "partition_rows": len(paths) - len(failures),
            "dimension": model.feature_dim,
        }
    )
