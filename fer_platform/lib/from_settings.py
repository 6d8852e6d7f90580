"""The one place that turns ``FerSettings`` into resources: used by the definitions, the CLI and the service.

Values come typed from the settings (validated once, defaults stated once
there). The DSNs are the exception: when set, they are passed as ``EnvVar``
references, so a password never appears in run config or in the UI. Outside a
run, ``open_resources`` initialises them with ``dagster.build_resources``, which
resolves those references.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import dagster
from dagster import EnvVar

from fer_platform.lib.io_managers import LakeParquetIOManager, PgVectorIOManager
from fer_platform.lib.resources import (
    EmotionModelResource,
    ImageFolderResource,
    LakeResource,
    PostgresResource,
    ResNetEmbedder,
    SearchSettings,
)
from fer_platform.settings import FerSettings
from fer_platform.table.schema import DEFAULT_TABLE


def secret_from_env(name: str) -> Optional[EnvVar]:
    """``EnvVar(name)`` when the variable is set (its value stays out of config and the UI), else None."""
    return EnvVar(name) if os.environ.get(name) else None


def build_resources(settings: FerSettings) -> dict[str, Any]:
    """Every resource of the platform, keyed as the assets, checks and sensors ask for them."""
    postgres = PostgresResource(dsn=secret_from_env("FER_PG_DSN"), embedded_pgdata=str(settings.embedded_pgdata))
    replica = PostgresResource(
        dsn=secret_from_env("FER_REPLICA_DSN"), embedded_pgdata=str(settings.embedded_replica_pgdata)
    )
    lake = LakeResource(lake_url=settings.resolved_lake_url, source_url=settings.resolved_source_url)
    return {
        "images": ImageFolderResource(
            image_root=str(settings.resolved_image_root), split=settings.split, settle_s=settings.settle_s
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
        "emotion_model_settings": EmotionModelResource(
            arch=settings.model_arch,
            budget_minutes=settings.train_budget_minutes,
            max_epochs=settings.train_max_epochs,
            version=settings.model_version,
            device=settings.device,
            weights=settings.weights,
        ),
        "pgvector_io_manager": PgVectorIOManager(postgres=postgres, table=DEFAULT_TABLE),
        "lake_io_manager": LakeParquetIOManager(lake=lake),
    }


@contextmanager
def open_resources(settings: FerSettings) -> Iterator[Any]:
    """The platform's resources initialised outside a run (CLI, service): ``r.replica.conninfo()`` etc."""
    with dagster.build_resources(build_resources(settings)) as resources:
        yield resources
