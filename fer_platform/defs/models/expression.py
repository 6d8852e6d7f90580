"""``expression_vectors``: the served emotion_model's penultimate features of every stored image, per emotion,
on the replica beside the seed's vectors, so that search can find faces with the same expression."""

import hashlib

import numpy as np
import torch
from dagster import AssetExecutionContext, Failure, MaterializeResult, asset

from fer_platform.defs.models.resources import EmotionModelSettings
from fer_platform.images.decode import ImageDecodeError, decode_image
from fer_platform.images.face import face_pixels
from fer_platform.models.lifecycle.registry import EMOTION_MODEL, load_version, model_registry, served_version
from fer_platform.models.model import EmotionModel
from fer_platform.models.on_ray import expressions_on_ray
from fer_platform.orchestration import names
from fer_platform.orchestration.automation import SERVED_FRESHNESS, served_automation
from fer_platform.orchestration.metadata import failures_table
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, LakeResource, PostgresResource, RayResource
from fer_platform.ray_cluster.pipelines import Pool
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


def served_model(settings: EmotionModelSettings, lake: LakeResource) -> tuple[str, EmotionModel]:
    registry = model_registry(lake.lake(), EMOTION_MODEL)
    version = served_version(registry, settings.version)
    if version is None:
        raise Failure("no emotion_model version is promoted yet: run the job train_emotion_model first")
    return version, load_version(registry, version, settings.torch_device())


def changed_faces(
    images: ImagesResource, emotion: str, paths: list[str], stored: dict[str, tuple], version: str
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


def computed_in_process(
    images: ImagesResource, model: EmotionModel, emotion: str, paths: list[str], stored: dict, version: str
) -> tuple[list[ExpressionRow], dict[str, str]]:
    """Rows of the changed images, computed in this process batch by batch; failures by path."""
    todo, failures = changed_faces(images, emotion, paths, stored, version)
    rows = []
    for start in range(0, len(todo), BATCH):
        chunk = todo[start : start + BATCH]
        _, features = model.infer(torch.from_numpy(np.stack([pixels for _, _, pixels in chunk])))
        rows += [ExpressionRow(p, emotion, d, f) for (p, d, _), f in zip(chunk, features, strict=True)]
    return rows, failures


def computed_on_ray(
    images: ImagesResource, model: EmotionModel, emotion: str, paths: list[str], stored: dict, version: str,
    settings: EmotionModelSettings, pool: Pool,
) -> tuple[list[ExpressionRow], dict[str, str]]:
    """The same rows computed by a pool of actors on the Ray cluster, which read the images where they are."""
    locations = [images.resolve(p) for p in paths]
    unchanged = {str(images.resolve(p)): digest for p, (digest, v) in stored.items() if v == version}
    outcome = expressions_on_ray(locations, unchanged, model, settings.device, pool)
    rows = [ExpressionRow(paths[i], emotion, digest, f) for i, (digest, f) in sorted(outcome.features.items())]
    failures = {paths[i]: reason for i, reason in outcome.failures.items()}
    return rows, failures


@asset(
    name=names.EXPRESSION_VECTORS,
    partitions_def=EMOTION_PARTITIONS,
    deps=[names.EMOTION_MODEL, names.AZURE_REPLICA],
    kinds={"pytorch", "postgres"},
    automation_condition=served_automation(ignore_checks_of=[names.EMOTION_MODEL]),
    freshness_policy=SERVED_FRESHNESS,
)
def expression_vectors(
    context: AssetExecutionContext,
    images: ImagesResource,
    replica: PostgresResource,
    emotion_model_settings: EmotionModelSettings,
    lake: LakeResource,
    ray: RayResource,
) -> MaterializeResult:
    """Ten-crop mean penultimate features (L2-normalised) of the served emotion_model for every image of the
    emotion in the replica's imagenes_fer, in imagenes_fer_expression (HNSW, cosine); only images whose content
    or model version changed are recomputed (by actors on the Ray cluster when FER_RAY_ADDRESS is set), rows of
    images no longer stored are removed. Materialized automatically (search_index_automation) for an emotion
    whose replica rows changed and passed their checks, for every emotion after emotion_model is materialized
    (whatever its check said: only the served version is used), and once a day."""
    emotion = context.partition_key
    version, model = served_model(emotion_model_settings, lake)
    with replica.connect() as conn:
        paths = seed_filepaths(conn, emotion, DEFAULT_TABLE)
        if ensure_expression_table(conn, model.feature_dim):
            context.log.warning(f"{EXPRESSION_TABLE} held vectors of another size: recreated for {version}")
        stored = stored_expressions(conn, emotion)
        with ray.engine() as (pool, engine):
            if pool is None:
                rows, failures = computed_in_process(images, model, emotion, paths, stored, version)
            else:
                settings = emotion_model_settings
                rows, failures = computed_on_ray(images, model, emotion, paths, stored, version, settings, pool)
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
            **engine,
        }
    )
