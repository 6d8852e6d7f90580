"""Settings to objects, in one place and without Dagster: what the definitions' resources, the sensors, the CLI,
the demo and the HTTP service are all built from.

``Platform(settings)`` answers "which database, which container, which model" the
same way for every caller: the embedded servers when no DSN is set, the lake and
the source container from their URLs, the query model from ``FER_WEIGHTS`` /
``FER_DEVICE`` / ``FER_PRECISION``, each registered model with its pin, and the
training recipe for the device. Nothing here is opened until it is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from fer_platform.embeddings.model import LoadedModel, load_model, precision_of, resolve_device
from fer_platform.models.lifecycle.registry import EMOTION_CLASSIFIER, EMOTION_MODEL, ModelRegistry, model_registry
from fer_platform.models.training.recipe import Recipe, recipe_for
from fer_platform.postgres.connection import conninfo
from fer_platform.settings import FerSettings
from fer_platform.storage.location import Location, open_location


@dataclass(frozen=True)
class Platform:
    """The platform's objects for one set of settings."""

    settings: FerSettings

    @property
    def image_root(self) -> Path:
        return self.settings.resolved_image_root

    def source_dsn(self) -> str:
        """The source database (``FER_PG_DSN``), else the embedded server, started on first use."""
        return conninfo(self.settings.pg_dsn, self.settings.embedded_pgdata)

    def replica_dsn(self) -> str:
        """The replica (``FER_REPLICA_DSN``), else the second embedded server, started on first use."""
        return conninfo(self.settings.replica_dsn, self.settings.embedded_replica_pgdata)

    def lake(self) -> Location:
        return open_location(self.settings.resolved_lake_url)

    def source(self) -> Location:
        """The source container, where images are uploaded from the image root and where new ones land."""
        return open_location(self.settings.resolved_source_url)

    def device(self) -> torch.device:
        return resolve_device(self.settings.device)

    def query_model(self, stored_ids: Iterable[str | None] = ()) -> LoadedModel:
        """The seed's ResNet18 as the settings ask for it (``WeightsUnavailableError`` when it cannot load). With
        FER_PRECISION=auto a query is embedded at the precision the stored rows name when they name one (rows
        made in bf16 on GPU actors are searched from a CPU with a bf16 query model: the same model id)."""
        precision = self.settings.precision
        named = {precision_of(model_id) for model_id in stored_ids if model_id}
        if precision == "auto" and len(named) == 1:
            precision = named.pop()
        return load_model(self.settings.weights, self.settings.device, precision)

    def model_registry(self, name: str) -> ModelRegistry:
        """The versions of ``emotion_model`` or ``emotion_classifier`` in the lake."""
        return model_registry(self.lake(), name)

    def pinned_version(self, name: str) -> str | None:
        """The version a service must serve (``FER_MODEL_VERSION``, ``FER_CLASSIFIER_VERSION``), or None."""
        return {EMOTION_MODEL: self.settings.model_version, EMOTION_CLASSIFIER: self.settings.classifier_version}[name]

    def recipe(self, seed: int = 0) -> Recipe:
        """The emotion_model training recipe for this device."""
        settings = self.settings
        return recipe_for(
            settings.model_arch, self.device(), settings.train_budget_minutes, settings.train_max_epochs,
            settings.weights, seed, settings.train_schedule, settings.train_epochs, settings.train_augment_strength,
        )
