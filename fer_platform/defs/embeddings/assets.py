"""Stage 2, embeddings: the pgvector embeddings table, embedded incrementally per emotion."""

import dataclasses

from dagster import AssetExecutionContext, Output, asset

from fer_platform.embeddings.model import random_weights
from fer_platform.embeddings.partition import embed_partition
from fer_platform.embeddings.vector_store import PgVectorStore
from fer_platform.images.manifest import MANIFEST_TABLE
from fer_platform.images.manifest_log import pending
from fer_platform.images.stored_manifest import FolderManifest
from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import EmbedderResource, ImagesResource, PostgresResource, RayResource
from fer_platform.table.aggregates import partition_aggregate
from fer_platform.table.planned import Comparison, PlanCounts, PlannedDelta
from fer_platform.table.rows import stored_fingerprints
from fer_platform.table.schema import DEFAULT_TABLE, MAX_EMOTION_CHARS, ensure_table

# One model loop at a time per deployment (dagster.yaml sets the pool's limit).
EMBEDDING_POOL = "fer_embedding"


def check_emotion_name(emotion: str) -> None:
    """The seed's ``emotion varchar(50)`` column bounds the folder name: say so before any work."""
    if len(emotion) > MAX_EMOTION_CHARS:
        raise ValueError(
            f"emotion folder name {emotion!r} has {len(emotion)} characters; "
            f"imagenes_fer.emotion holds at most {MAX_EMOTION_CHARS}"
        )


def to_compare(
    postgres: PostgresResource, folder: FolderManifest, emotion: str, model_id: str
) -> tuple[Comparison, tuple[str, int, bool]]:
    """What the plan compares, and what of the folder's manifest log it covers. Only the files the log names
    since this stage's last run (a landing of k files: k rows of each side, looked up by path); the whole folder
    on a first run, after the model changed, or when the partition's maintained row count says rows outside
    those files are missing or extra (deleted by hand, another split's rows in the table)."""
    scope = folder.scope
    whole = Comparison(MANIFEST_TABLE, DEFAULT_TABLE, emotion, scope, model_id)
    with postgres.connect(vector=False) as conn:
        ensure_table(conn, DEFAULT_TABLE)
        horizon, changes = pending(conn, names.EMBEDDINGS_TABLE, scope, tag=model_id)
        if changes is not None:
            paths = sorted(changes)
            manifest = folder.rows(conn, paths)
            stored = stored_fingerprints(conn, DEFAULT_TABLE, emotion, scope, only=paths)
            outside = partition_aggregate(conn, DEFAULT_TABLE, emotion).rows - len(stored)
            if outside == folder.counts.decodable - manifest.get_column("error").is_null().sum():
                return dataclasses.replace(whole, only=tuple(paths)), (scope, horizon, False)
    return whole, (scope, horizon, True)


def plan_metadata(counts: PlanCounts, failed: dict[str, str], failures: int) -> dict:
    """Counts a person checks first after a run (``failed``: the files named, of ``failures``)."""
    return {
        "new": counts.new,
        "changed": counts.changed,
        "model_changed": counts.model_changed,
        "removed": counts.removed,
        "unchanged": counts.unchanged,  # of the files compared
        "failed": failures,
        "failed_files": failures_table(failed),
    }


@asset(
    name=names.EMBEDDINGS_TABLE,
    partitions_def=EMOTION_PARTITIONS,
    io_manager_key="pgvector_io_manager",
    kinds={"postgres", "pytorch"},
    pool=EMBEDDING_POOL,
)
def embeddings_table(
    context: AssetExecutionContext,
    raw_images: FolderManifest,
    images: ImagesResource,
    embedder: EmbedderResource,
    postgres: PostgresResource,
    ray: RayResource,
) -> Output[PlannedDelta]:
    """ResNet18 (fc = Identity) vectors of one emotion's images in imagenes_fer.

    Only new or changed files are embedded (or all of them when the model
    changes), found from the manifest log (``images.manifest_log``): a landing of k files compares and reads
    k rows, whatever the partition holds; rows of files that disappeared are deleted; unusable files are
    reported and skipped without touching rows already stored. Vectors already in
    the content-addressed store (fer_vector_store: same bytes, same model) are
    reused; the rest are computed and stored in chunks, so a killed run resumes. With FER_RAY_ADDRESS set, they
    are computed by a pool of actors on that Ray cluster, which reads each image where it is.
    """
    emotion = context.partition_key
    check_emotion_name(emotion)
    with embedder.engine(ray) as (engine, engine_metadata):
        model_id = engine.model_id  # the engine's: on GPU actors, FER_PRECISION=auto stores bf16
        if random_weights(model_id):
            context.log.warning("FER_WEIGHTS=random: these vectors come from UNTRAINED weights")
        comparison, covers = to_compare(postgres, raw_images, emotion, model_id)
        store = PgVectorStore(postgres.conninfo(), model_id)
        if dropped := store.prepare():
            context.log.info(f"the model changed: dropped {dropped} stored vectors of other models")
        plan = f"{context.run_id}/{emotion}"
        run = embed_partition(postgres.conninfo(), plan, comparison, engine, images.root, store, context.log.info)
    for path, reason in run.failed.items():
        context.log.warning(f"skipped {path!r}: {reason}")
    size = store.size()
    metadata = plan_metadata(run.counts, run.failed, run.failures) | {
        "embedded": run.embedded,
        "reused_vectors": run.reused,
        "images_per_s": round(run.images_per_s, 1),
        "store_rows": size.rows,
        "store_bytes": size.bytes,
        "model_id": model_id,
        "random_weights": random_weights(model_id),
        **engine_metadata,
    }
    metadata["compared"] = "whole folder" if covers[2] else f"{run.counts.compared} file(s) the manifest logged"
    return Output(dataclasses.replace(run.delta, covers=covers), metadata=metadata)
