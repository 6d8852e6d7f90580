"""The platform's settings: one object, read from the environment.

Every knob a user turns is an environment variable named here (the names are a
public contract, see README). Resources receive these values as Dagster
``EnvVar`` references where the user set them, so that secrets such as a DSN
with a password never appear in run config or in the UI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Split = Literal["train", "test"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16"]
# "auto": the recipe's full-width VGG on CUDA, its half-width variant on CPU (see emotion_model.network).
ModelArch = Literal["auto", "vgg", "vgg_small", "resnet18_imagenet"]
# See models.schedule: auto picks one_cycle when the time budget, not the epoch limit, will end training.
TrainSchedule = Literal["auto", "plateau", "one_cycle"]


def default_home() -> Path:
    """Where the embedded defaults live (images, database, lake) when nothing is configured."""
    return Path(os.environ.get("FER_HOME", Path.home() / ".fer_platform")).expanduser()


class FerSettings(BaseSettings):
    """All platform settings, each from the ``FER_*`` environment variable of the same name."""

    model_config = SettingsConfigDict(env_prefix="FER_", frozen=True)

    home: Path = Field(default_factory=default_home, description="Folder for the embedded defaults.")
    image_root: Optional[Path] = Field(
        default=None, description="Folder holding split folders, each holding one folder per emotion."
    )
    split: Split = "train"
    pg_dsn: Optional[str] = Field(default=None, description="Source database; unset = embedded server.")
    replica_dsn: Optional[str] = Field(default=None, description="Azure replica; unset = 2nd embedded server.")
    lake_url: Optional[str] = Field(default=None, description="Lake root; unset = a folder under home.")
    source_url: Optional[str] = Field(default=None, description="Source image container; unset = a folder.")
    weights: str = Field(default="imagenet", description="imagenet, random, or a state_dict path.")
    device: Device = "auto"
    batch_size: int = Field(default=64, gt=0)
    num_workers: int = Field(default=0, ge=0, description="0: a decode thread; N: DataLoader processes.")
    precision: Precision = Field(
        default="auto", description="auto (bf16 on a GPU, fp32 on a CPU), fp32 (exact) or bf16 autocast (faster)."
    )
    sensor_interval_s: int = Field(default=30, gt=0, description="Seconds between new-image sensor ticks.")
    api_key: SecretStr | None = Field(default=None, description="Bearer key of the search API (FER_API_KEY).")
    ef_search: int = Field(default=150, gt=0, description="hnsw.ef_search of similarity queries.")
    index_build_memory: str = Field(
        default="1GB", pattern=r"^[0-9]+\s*(kB|MB|GB|TB)$", description="maintenance_work_mem of HNSW index builds."
    )
    index_build_workers: int = Field(default=0, ge=0, le=64, description="Parallel workers of HNSW index builds.")
    max_upload_bytes: int = Field(default=5_000_000, gt=0, description="Largest accepted query image.")
    header_timeout_s: float = Field(default=10.0, gt=0, description="A connection's request head must arrive by then.")
    public_docs: bool = Field(default=True, description="/docs and /openapi.json without the key (FER_PUBLIC_DOCS).")
    public_metrics: bool = Field(default=False, description="/metrics without the key (FER_PUBLIC_METRICS).")
    classifier_version: str | None = Field(default=None, description="Pinned emotion_classifier version.")
    train_budget_minutes: float = Field(
        default=30.0, gt=0, description="Training of emotion_model stops at its best checkpoint after this long."
    )
    train_max_epochs: int = Field(default=300, gt=0, description="Epoch limit of emotion_model (the recipe's 300).")
    train_schedule: TrainSchedule = Field(default="auto", description="Learning-rate schedule of emotion_model.")
    min_accuracy_deduplicated: float | None = Field(
        default=None, ge=0, le=1, description="emotion_model's floor on the deduplicated test faces to be promoted."
    )
    train_epochs: int | None = Field(
        default=None, gt=0, description="emotion_model's run length fixed in advance (repeats a budget run)."
    )
    train_augment_strength: float | None = Field(
        default=None, ge=0, le=1, description="emotion_model's augmentation strength (unset: fitted to its length)."
    )
    exclude_label_issues: bool = Field(
        default=False, description="emotion_model trains without the images label_issues flagged."
    )
    model_arch: ModelArch = Field(default="auto", description="Network of emotion_model (FER_MODEL_ARCH).")
    model_version: str | None = Field(default=None, description="Pinned emotion_model version (else the promoted).")
    ray_address: Optional[str] = Field(
        default=None, description="unset: in this process; local, auto, host:port or ray://host:port: on Ray."
    )
    ray_actors: str = Field(
        default="1,4", pattern=r"^\s*\d+\s*(,\s*\d+\s*)?$", description="Embedding actors on Ray: N or MIN,MAX."
    )
    ray_stall_s: float = Field(default=300.0, gt=0, description="A Ray pipeline with no progress this long fails.")
    ray_startup_s: float = Field(
        default=900.0, gt=0, description="Allowance for a Ray pipeline's first result (nodes starting, models loading)."
    )
    ray_gpus_per_actor: str = Field(
        default="auto", pattern=r"^\s*(auto|\d+(\.\d+)?)\s*$",
        description="GPUs each Ray actor asks for: a number, or auto (1 when the cluster advertises a GPU).",
    )
    events_queue: Optional[str] = Field(
        default=None, description="Storage Queue of the source account that Event Grid fills; unset = listing."
    )
    reconcile_hours: float = Field(
        default=24.0, ge=0, description="With FER_EVENTS_QUEUE: a listing at most this often (0 = never)."
    )
    verify_cron: str = Field(
        default="0 3 * * *", description="When verify_images re-reads every image (cron, the daemon's time zone)."
    )
    settle_s: float = Field(
        default=5.0, ge=0, description="A folder with a file modified this recently waits for the next tick."
    )

    @field_validator("events_queue", "ray_address", mode="before")
    @classmethod
    def empty_is_unset(cls, value: object) -> object:
        """``FER_X=`` (compose's way of switching a default off) means unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def events_need_azure(self) -> FerSettings:
        """Event Grid delivers events of Azure Storage only: refuse the queue for a local source folder."""
        if self.events_queue and "://" not in self.resolved_source_url:
            raise ValueError(
                f"FER_EVENTS_QUEUE={self.events_queue!r} needs FER_SOURCE_URL to be an Azure container "
                f"(az:// or abfss://): Event Grid publishes blob events, a local folder {self.resolved_source_url!r} "
                f"has none. Unset FER_EVENTS_QUEUE to find new images by listing."
            )
        return self

    @property
    def resolved_image_root(self) -> Path:
        """The image root, defaulting to the synthetic sample data set under ``home``."""
        return (self.image_root or self.home / "images").expanduser()

    @property
    def embedded_pgdata(self) -> Path:
        """Data folder of the embedded PostgreSQL server used when ``FER_PG_DSN`` is unset."""
        return self.home / "pgdata"

    @property
    def resolved_lake_url(self) -> str:
        """The lake root, defaulting to a local folder (the embedded stand-in for ADLS Gen2)."""
        return self.lake_url or str(self.home / "lake")

    @property
    def resolved_source_url(self) -> str:
        """The source container, defaulting to a local folder beside the lake (stand-in for Blob Storage)."""
        return self.source_url or str(self.home / "blob" / "origen-imagenes-fer")

    @property
    def embedded_replica_pgdata(self) -> Path:
        """Data folder of the second embedded server standing in for Azure when ``FER_REPLICA_DSN`` is unset."""
        return self.home / "replica_pgdata"


def load_settings() -> FerSettings:
    """Read the settings from the current environment (never cached: tests and CLIs change it)."""
    return FerSettings()
