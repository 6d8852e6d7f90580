"""The platform's Dagster definitions (``defs``), loaded by ``dg dev`` / ``dagster dev`` / the CLI.

Every asset, check and job lives in a module under ``fer_platform/defs/<stage>/``
and is found by ``load_from_defs_folder``: a module dropped there is loaded with no
other edit. This file adds what depends on the settings: the resources (built
from ``factory.Platform``, the one place settings become objects), the two
sensors (their interval is a setting, read when the definitions are built, never
at import) and the in-process executor. Partitions are the emotion folders
(dynamic: registered when the definitions load and by ``new_images_sensor`` as
folders appear).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from dagster import Definitions, EnvVar, in_process_executor, load_from_defs_folder

from fer_platform.defs.images.sensors import new_images_sensor
from fer_platform.defs.models.resources import EmotionModelResource
from fer_platform.defs.search.jobs import search_index_automation
from fer_platform.defs.search.resources import SearchSettings
from fer_platform.factory import Platform
from fer_platform.orchestration.io_managers import LakeParquetIOManager, PgVectorIOManager
from fer_platform.orchestration.partitions import register_folders_on_load
from fer_platform.orchestration.resources import (
    ImageFolderResource,
    LakeResource,
    PostgresResource,
    RayResource,
    ResNetEmbedder,
)
from fer_platform.settings import FerSettings, load_settings
from fer_platform.table.schema import DEFAULT_TABLE


def secret_from_env(name: str) -> Optional[EnvVar]:
    """``EnvVar(name)`` when the variable is set (its value stays out of config and the UI), else None."""
    return EnvVar(name) if os.environ.get(name) else None


def build_resources(platform: Platform) -> dict[str, Any]:
    """Every resource, keyed as the assets, checks and sensors ask for them. Values come from the platform's
    settings, typed; the DSNs, when set, as ``EnvVar`` references, so a password never appears in run config or
    the UI (unset, the resources start the same embedded servers as ``Platform.source_dsn`` / ``replica_dsn``)."""
    settings = platform.settings
    postgres = PostgresResource(dsn=secret_from_env("FER_PG_DSN"), embedded_pgdata=str(settings.embedded_pgdata))
    replica = PostgresResource(
        dsn=secret_from_env("FER_REPLICA_DSN"), embedded_pgdata=str(settings.embedded_replica_pgdata)
    )
    lake = LakeResource(lake_url=settings.resolved_lake_url)
    return {
        "images": ImageFolderResource(
            image_root=str(platform.image_root),
            source_url=settings.resolved_source_url,
            split=settings.split,
            settle_s=settings.settle_s,
            events_queue=settings.events_queue,
            reconcile_hours=settings.reconcile_hours,
        ),
        "embedder": ResNetEmbedder(
            weights=settings.weights,
            device=settings.device,
            batch_size=settings.batch_size,
            num_workers=settings.num_workers,
            precision=settings.precision,
        ),
        "postgres": postgres,
        "replica": replica,
        "lake": lake,
        "search": SearchSettings(ef_search=settings.ef_search),
        "ray": RayResource(
            address=secret_from_env("FER_RAY_ADDRESS"), actors=settings.ray_actors, stall_s=settings.ray_stall_s
        ),
        "emotion_model_settings": EmotionModelResource(
            arch=settings.model_arch,
            budget_minutes=settings.train_budget_minutes,
            max_epochs=settings.train_max_epochs,
            schedule=settings.train_schedule,
            exclude_label_issues=settings.exclude_label_issues,
            version=settings.model_version,
            device=settings.device,
            weights=settings.weights,
        ),
        "pgvector_io_manager": PgVectorIOManager(postgres=postgres, table=DEFAULT_TABLE),
        "lake_io_manager": LakeParquetIOManager(lake=lake),
    }


def build_definitions(settings: FerSettings) -> Definitions:
    """Everything under ``defs/``, with the resources and sensors of ``settings``."""
    interval_s = settings.sensor_interval_s
    return Definitions.merge(
        load_from_defs_folder(path_within_project=Path(__file__).parent),
        Definitions(
            resources=build_resources(Platform(settings)),
            sensors=[
                new_images_sensor(interval_s, settings.events_queue is not None),
                search_index_automation(interval_s),
            ],
            executor=in_process_executor,
        ),
    )


def load_defs() -> Definitions:
    """The definitions of the current environment, with its emotion folders registered as partitions."""
    settings = load_settings()
    register_folders_on_load(settings.resolved_image_root, settings.split)
    return build_definitions(settings)


defs = load_defs()
