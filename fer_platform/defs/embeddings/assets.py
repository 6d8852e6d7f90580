"""Stage 2, embeddings: the pgvector embeddings table, embedded incrementally per emotion."""

import polars as pl
from dagster import AssetExecutionContext, Output, asset

from fer_platform.embeddings.partition import embed_partition
from fer_platform.embeddings.plan import EmbeddingPlan
from fer_platform.embeddings.vector_store import PgVectorStore
from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import EmbedderResource, ImagesResource, PostgresResource, RayResource
from fer_platform.table.rows import PartitionDelta, stored_fingerprints
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


def stored_rows(postgres: PostgresResource, emotion: str, prefix: str) -> pl.DataFrame:
    """Create the table if needed and read the partition's stored fingerprints."""
    with postgres.connect(vector=False) as conn:
        ensure_table(conn, DEFAULT_TABLE)
        return stored_fingerprints(conn, DEFAULT_TABLE, emotion, prefix)


def plan_metadata(plan: EmbeddingPlan, failed: dict[str, str]) -> dict:
    """Counts a person checks first after a run."""
    return {
        "new": len(plan.new),
        "changed": len(plan.changed),
        "model_changed": len(plan.model_changed),
        "removed": len(plan.removed),
        "unchanged": len(plan.unchanged),
        "failed": len(failed),
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
    raw_images: pl.DataFrame,
    images: ImagesResource,
    embedder: EmbedderResource,
    postgres: PostgresResource,
    ray: RayResource,
) -> Output[PartitionDelta]:
    """ResNet18 (fc = Identity) vectors of one emotion's images in imagenes_fer.

    Only new or changed files are embedded (or all of them when the model
    changes); rows of files that disappeared are deleted; unusable files are
    reported and skipped without touching rows already stored. Vectors already in
    the content-addressed store (fer_vector_store: same bytes, same model) are
    reused; the rest are computed and stored in chunks, so a killed run resumes. With FER_RAY_ADDRESS set, they
    are computed by a pool of actors on that Ray cluster, which reads each image where it is.
    """
    emotion = context.partition_key
    check_emotion_name(emotion)
    model = embedder.model()
    if model.is_random:
        context.log.warning("FER_WEIGHTS=random: these vectors come from UNTRAINED weights")
    stored = stored_rows(postgres, emotion, images.scope(emotion))
    store = PgVectorStore(postgres.conninfo(), model.model_id)
    if dropped := store.prepare():
        context.log.info(f"the model changed: dropped {dropped} stored vectors of other models")
    with embedder.engine(ray) as (engine, engine_metadata):
        run = embed_partition(emotion, raw_images, stored, engine, images.root, store, context.log.info)
    for path, reason in run.failed.items():
        context.log.warning(f"skipped {path!r}: {reason}")
    size = store.size()
    metadata = plan_metadata(run.plan, run.failed) | {
        "embedded": run.embedded,
        "reused_vectors": run.reused,
        "images_per_s": round(run.images_per_s, 1),
        "store_rows": size.rows,
        "store_bytes": size.bytes,
        "model_id": model.model_id,
        "random_weights": model.is_random,
        "device": str(model.device),
        **engine_metadata,
    }
    return Output(run.delta, metadata=metadata)
