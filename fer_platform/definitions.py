"""The platform's Dagster definitions (``defs``), loaded by ``dagster dev`` / ``dg dev`` / the CLI.

Resources receive each setting as an ``EnvVar`` when the user set it (so the UI
shows the variable's name, never a secret's value) and as the documented default
otherwise. Partitions are the emotion folders (dynamic: registered when the
definitions load and by ``new_images_sensor`` as folders appear).
"""

from __future__ import annotations

import os
from typing import Any

from dagster import (
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    define_asset_job,
    in_process_executor,
)

from fer_platform.classifier.assets import build_emotion_classifier
from fer_platform.embeddings.assets import build_embeddings_table
from fer_platform.embeddings.checks import build_embeddings_checks
from fer_platform.embeddings.io_manager import PgVectorIOManager
from fer_platform.embeddings.resource import ResNetEmbedder
from fer_platform.embeddings.store import DEFAULT_TABLE
from fer_platform.lake.assets import build_lake_assets
from fer_platform.lake.checks import build_lake_checks
from fer_platform.lake.io_manager import LakeParquetIOManager
from fer_platform.lake.resource import LakeResource
from fer_platform.partitions import EMOTION_PARTITIONS, register_folders_on_load
from fer_platform.postgres.resource import PostgresResource
from fer_platform.raw_images.assets import build_raw_images
from fer_platform.raw_images.resource import ImageFolderResource
from fer_platform.raw_images.sensor import build_new_images_sensor
from fer_platform.replica.assets import build_azure_replica
from fer_platform.replica.checks import build_replica_checks
from fer_platform.replica.migration_job import initial_migration
from fer_platform.search.assets import build_vector_index
from fer_platform.search.checks import build_search_checks
from fer_platform.search.resource import SearchSettings
from fer_platform.settings import FerSettings, load_settings

EMBED_JOB = "embed_images"
SYNC_JOB = "embed_and_replicate"
PIPELINE_JOB = "fer_pipeline"
INDEX_JOB = "build_search_index"
CLASSIFIER_JOB = "train_emotion_classifier"
ALL_STAGES = [
    "raw_images",
    "embeddings_table",
    "azure_replica",
    "source_images_blob",
    "lakehouse_images",
    "lakehouse_embeddings",
]


def from_env(name: str, default: Any) -> Any:
    """``EnvVar(name)`` (typed like ``default``) when the variable is set, else ``default``."""
    if name not in os.environ:
        return default
    return EnvVar.int(name) if isinstance(default, int) else EnvVar(name)


def build_resources(settings: FerSettings) -> dict[str, Any]:
    """The resources, wired to the environment variables the settings document."""
    postgres = PostgresResource(dsn=from_env("FER_PG_DSN", None), embedded_pgdata=str(settings.embedded_pgdata))
    replica = PostgresResource(
        dsn=from_env("FER_REPLICA_DSN", None), embedded_pgdata=str(settings.embedded_replica_pgdata)
    )
    lake = LakeResource(
        lake_url=from_env("FER_LAKE_URL", settings.resolved_lake_url),
        source_url=from_env("FER_SOURCE_URL", settings.resolved_source_url),
    )
    return {
        "lake": lake,
        "lake_io_manager": LakeParquetIOManager(lake=lake),
        "images": ImageFolderResource(
            image_root=from_env("FER_IMAGE_ROOT", str(settings.resolved_image_root)),
            split=from_env("FER_SPLIT", settings.split),
        ),
        "embedder": ResNetEmbedder(
            weights=from_env("FER_WEIGHTS", settings.weights),
            device=from_env("FER_DEVICE", settings.device),
            batch_size=from_env("FER_BATCH_SIZE", settings.batch_size),
            num_workers=from_env("FER_NUM_WORKERS", settings.num_workers),
            precision=from_env("FER_PRECISION", settings.precision),
        ),
        "postgres": postgres,
        "replica": replica,
        "pgvector_io_manager": PgVectorIOManager(postgres=postgres, table=DEFAULT_TABLE),
        "search": SearchSettings(ef_search=from_env("FER_EF_SEARCH", settings.ef_search)),
    }


def build_definitions(settings: FerSettings) -> Definitions:
    """All assets, checks, jobs and resources for one set of settings."""
    partitions = EMOTION_PARTITIONS
    return Definitions(
        assets=[
            build_raw_images(partitions, DEFAULT_TABLE),
            build_embeddings_table(partitions, DEFAULT_TABLE),
            build_azure_replica(partitions, DEFAULT_TABLE),
            *build_lake_assets(partitions, DEFAULT_TABLE),
            build_vector_index(DEFAULT_TABLE),
            build_emotion_classifier(DEFAULT_TABLE),
        ],
        asset_checks=[
            *build_search_checks(DEFAULT_TABLE),
            *build_embeddings_checks(partitions, DEFAULT_TABLE),
            *build_replica_checks(partitions, DEFAULT_TABLE),
            *build_lake_checks(partitions, DEFAULT_TABLE),
        ],
        jobs=[
            define_asset_job(
                EMBED_JOB,
                selection=["raw_images", "embeddings_table"],
                partitions_def=partitions,
                description="Scan one emotion folder and embed what changed into imagenes_fer.",
            ),
            define_asset_job(
                SYNC_JOB,
                selection=["raw_images", "embeddings_table", "azure_replica"],
                partitions_def=partitions,
                description="Embed one emotion folder and carry the change to the Azure replica.",
            ),
            define_asset_job(
                PIPELINE_JOB,
                selection=ALL_STAGES,
                partitions_def=partitions,
                description="The whole seed recipe for one emotion: embed, replicate, upload, lakehouse.",
            ),
            define_asset_job(INDEX_JOB, selection=["vector_index"], description="Create or rebuild the HNSW index."),
            define_asset_job(
                CLASSIFIER_JOB, selection=["emotion_classifier"], description="Train and register an emotion head."
            ),
            initial_migration,
        ],
        sensors=[
            build_new_images_sensor(PIPELINE_JOB, settings.sensor_interval_s, settings.settle_s),
            AutomationConditionSensorDefinition(
                "search_index_automation",
                target=["vector_index"],
                default_status=DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=settings.sensor_interval_s,
                description="Brings vector_index up to date after the replica changes.",
            ),
        ],
        resources=build_resources(settings),
        executor=in_process_executor,
    )


def load_defs() -> Definitions:
    """The definitions of the current environment, with its emotion folders registered as partitions."""
    settings = load_settings()
    register_folders_on_load(settings.resolved_image_root, settings.split)
    return build_definitions(settings)


defs = load_defs()
