"""Stage 1b of the seed: the pgvector embeddings table, embedded incrementally per emotion."""

import polars as pl
from dagster import AssetExecutionContext, AssetsDefinition, Output, PartitionsDefinition, asset

from fer_platform.embeddings.partition import embed_partition
from fer_platform.embeddings.plan import EmbeddingPlan
from fer_platform.embeddings.resource import ResNetEmbedder
from fer_platform.embeddings.store import MAX_EMOTION_CHARS, PartitionDelta, ensure_table, stored_fingerprints
from fer_platform.metadata import failures_table
from fer_platform.postgres.resource import PostgresResource
from fer_platform.raw_images.resource import ImageFolderResource


# One model loop at a time per deployment (dagster.yaml sets the pool's limit).
EMBEDDING_POOL = "fer_embedding"


def check_emotion_name(emotion: str) -> None:
    """The seed's ``emotion varchar(50)`` column bounds the folder name: say so before any work."""
    if len(emotion) > MAX_EMOTION_CHARS:
        raise ValueError(
            f"emotion folder name {emotion!r} has {len(emotion)} characters; "
            f"imagenes_fer.emotion holds at most {MAX_EMOTION_CHARS}"
        )


def stored_rows(postgres: PostgresResource, table: str, emotion: str, prefix: str) -> pl.DataFrame:
    """Create the table if needed and read the partition's stored fingerprints."""
    with postgres.connect(vector=False) as conn:
        ensure_table(conn, table)
        return stored_fingerprints(conn, table, emotion, prefix)


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


def build_embeddings_table(partitions: PartitionsDefinition, table: str) -> AssetsDefinition:
    """The ``embeddings_table`` asset over the given emotion partitions, stored in ``table``."""

    @asset(
        name="embeddings_table",
        partitions_def=partitions,
        io_manager_key="pgvector_io_manager",
        group_name="embeddings",
        kinds={"postgres", "pytorch"},
        pool=EMBEDDING_POOL,
    )
    def embeddings_table(
        context: AssetExecutionContext,
        raw_images: pl.DataFrame,
        images: ImageFolderResource,
        embedder: ResNetEmbedder,
        postgres: PostgresResource,
    ) -> Output[PartitionDelta]:
        """ResNet18 (fc = Identity) vectors of one emotion's images in imagenes_fer.

        Only new or changed files are embedded (or all of them when the model
        changes); rows of files that disappeared are deleted; unusable files are
        reported and skipped without touching rows already stored.
        """
        emotion = context.partition_key
        check_emotion_name(emotion)
        model = embedder.model()
        if model.is_random:
            context.log.warning("FER_WEIGHTS=random: these vectors come from UNTRAINED weights")
        stored = stored_rows(postgres, table, emotion, images.scope(emotion))
        run = embed_partition(emotion, raw_images, stored, embedder, images)
        for path, reason in run.failed.items():
            context.log.warning(f"skipped {path!r}: {reason}")
        metadata = plan_metadata(run.plan, run.failed) | {
            "embedded": len(run.delta.filepaths),
            "images_per_s": round(run.result.images_per_s, 1),
            "model_id": model.model_id,
            "random_weights": model.is_random,
            "device": str(model.device),
        }
        return Output(run.delta, metadata=metadata)

    return embeddings_table
