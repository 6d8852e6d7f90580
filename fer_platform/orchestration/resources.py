"""The resources several stages share, typed like the settings they come from, and ``shared_resources``, which
builds them for a platform under the keys the assets ask for (``definitions.py`` binds them; a resource only one
stage uses lives in that stage's ``defs/<stage>/resources.py``). A resource's key is its class's name in snake case
without ``Resource`` (``images`` is an ``ImagesResource``); the replica is the second ``PostgresResource``.

Resources are thin: each holds its settings and hands out the Dagster-free
object that does the work (a connection, a location, a loaded model).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import psycopg
from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from fer_platform.embeddings.cached import Embedder
from fer_platform.embeddings.embedder import BatchEmbedder
from fer_platform.embeddings.model import LoadedModel, load_model
from fer_platform.embeddings.on_ray import RayEmbedder
from fer_platform.factory import Platform
from fer_platform.images.landings.landing import Copy, download
from fer_platform.images.manifest import Describe, describe_here
from fer_platform.images.on_ray import describe_on_ray, land_on_ray
from fer_platform.postgres.connection import CONNECT_TIMEOUT_S, connect, conninfo
from fer_platform.ray_cluster.connection import Cluster, connected
from fer_platform.ray_cluster.pipelines import Pool
from fer_platform.settings import Device, Precision, Split
from fer_platform.storage.location import DEFAULT_CONCURRENCY, Location, open_location


class PostgresResource(ConfigurableResource):
    """A PostgreSQL + pgvector database: ``dsn`` when given, else the embedded server in ``embedded_pgdata``."""

    dsn: Optional[str] = Field(description="libpq DSN or URI (TCP or unix socket); None = the embedded server.")
    embedded_pgdata: str = Field(description="Data folder of the embedded server used when dsn is unset.")
    connect_timeout_s: int = CONNECT_TIMEOUT_S

    def conninfo(self) -> str:
        """The DSN to connect with (Azure hosts get sslmode=require), starting the embedded server if unset."""
        return conninfo(self.dsn, self.embedded_pgdata)

    @contextmanager
    def connect(self, vector: bool = True) -> Iterator[psycopg.Connection]:
        """A connection with pgvector types registered (``vector=False`` before the extension exists)."""
        with connect(self.conninfo(), vector, self.connect_timeout_s) as conn:
            yield conn


class ImagesResource(ConfigurableResource):
    """Where images come from: a FER-layout folder ``<image_root>/<split>/<emotion>/*`` (any format PIL reads) and
    the source container (FER_SOURCE_URL) that the folder is uploaded to and where new images may land."""

    image_root: str = Field(description="Folder holding the split folders (FER_IMAGE_ROOT).")
    source_url: str = Field(description="The source container (the seed's origen-imagenes-fer), FER_SOURCE_URL.")
    split: Split = Field(description="The split this deployment embeds (FER_SPLIT).")
    settle_s: float = Field(description="A folder with a file modified this recently waits (FER_SETTLE_S).")
    events_queue: Optional[str] = Field(
        default=None, description="Storage Queue of blob events (FER_EVENTS_QUEUE); None = find landings by listing."
    )
    reconcile_hours: float = Field(default=24.0, description="A reconciling listing at most this often; 0 = never.")

    @property
    def root(self) -> Path:
        """The image root as a path."""
        return Path(self.image_root).expanduser()

    def scope(self, emotion: str) -> str:
        """Prefix of the file paths (relative to the root) that belong to one emotion partition."""
        return f"{self.split}/{emotion}/"

    def resolve(self, filepath: str) -> Path:
        """The local path of a manifest file path."""
        return self.root / filepath

    def source(self) -> Location:
        return open_location(self.source_url)

    @contextmanager
    def describing(self, emotion: str, ray: RayResource) -> Iterator[tuple[Describe, dict]]:
        """What reads, hashes and decodes the files a scan must read: this process or, with FER_RAY_ADDRESS set,
        tasks on the Ray workers (which mount the image root, connected for the block); and the metadata that
        says where."""
        with ray.engine() as (pool, where):
            if pool is None:
                yield describe_here(self.root, emotion), where
            else:
                yield describe_on_ray(self.root, emotion, pool), where

    @contextmanager
    def landing(self, ray: RayResource) -> Iterator[tuple[Copy, dict]]:
        """What copies landed blobs into the image root: this process, or tasks on the Ray workers with their own
        credentials (connected for the block); and the metadata that says which."""
        with ray.engine() as (pool, where):
            if pool is None:
                yield download(self.source(), self.root, DEFAULT_CONCURRENCY), where
            else:
                yield land_on_ray(self.source_url, self.root, pool), where


class RayResource(ConfigurableResource):
    """The Ray cluster a step computes on (FER_RAY_ADDRESS, FER_RAY_ACTORS, FER_RAY_STALL_S, FER_RAY_STARTUP_S,
    FER_RAY_GPUS_PER_ACTOR); no address = none. ``engine`` is the one place a stage learns where it runs.

    The address reaches the resource as an ``EnvVar`` (a ``ray://`` address may carry a token); metadata and
    errors show it without credentials."""

    address: Optional[str] = Field(description="local, auto, host:port or ray://host:port; None = in process.")
    actors: str = Field(description="Actors in a model pool: N, or MIN,MAX.")
    stall_s: float = Field(description="A pipeline with no finished batch for this long fails (FER_RAY_STALL_S).")
    startup_s: float = Field(default=900.0, description="Allowance for the first batch (FER_RAY_STARTUP_S).")
    gpus_per_actor: str = Field(default="auto", description="A number, or auto (FER_RAY_GPUS_PER_ACTOR).")

    def actor_range(self) -> tuple[int, int]:
        """(min, max) actors; N means a pool of exactly N."""
        low, _, high = self.actors.partition(",")
        first, last = int(low), int(high or low)
        if not 1 <= first <= last:
            raise ValueError(f"FER_RAY_ACTORS={self.actors!r}: want N or MIN,MAX with 1 <= MIN <= MAX")
        return first, last

    def pool(self, cluster: Cluster) -> Pool:
        """What a stage may ask of ``cluster``: read tasks at a time (one per CPU, at least the actors' maximum),
        and GPUs per actor (auto: one when the cluster advertises a GPU now; an autoscaling cluster whose GPU
        nodes start from zero says FER_RAY_GPUS_PER_ACTOR=1)."""
        actors = self.actor_range()
        setting = self.gpus_per_actor.strip()
        gpus = (1.0 if cluster.gpus >= 1 else 0.0) if setting == "auto" else float(setting)
        return Pool(actors, max(actors[1], int(cluster.cpus)), gpus, self.stall_s, self.startup_s)

    @contextmanager
    def engine(self) -> Iterator[tuple[Optional[Pool], dict]]:
        """Where a step computes, for the block: ``(None, in-process metadata)`` when FER_RAY_ADDRESS is unset,
        else the connected cluster's ``Pool`` and the metadata that says where (address without credentials,
        nodes, actors, GPUs)."""
        if self.address is None:
            yield None, {"engine": "in_process"}
            return
        with connected(self.address) as cluster:
            pool = self.pool(cluster)
            yield pool, cluster.metadata() | pool.metadata()


class EmbedderResource(ConfigurableResource):
    """The seed's ResNet18 feature extractor, batched (FER_WEIGHTS, FER_DEVICE, FER_BATCH_SIZE, FER_PRECISION)."""

    weights: str = Field(description="imagenet, random, or a state_dict path.")
    device: Device = Field(description="auto, cpu or cuda.")
    batch_size: int = Field(description="Images per forward pass.")
    num_workers: int = Field(description="0: a decode thread; N: DataLoader processes.")
    precision: Precision = Field(description="fp32 (the seed's numbers) or bf16 (autocast, faster).")

    def model(self) -> LoadedModel:
        """The loaded model (cached per process)."""
        return load_model(self.weights, self.device, self.precision)

    def batch_embedder(self) -> BatchEmbedder:
        """The model with this resource's batching."""
        return BatchEmbedder(self.model(), self.batch_size, self.num_workers)

    @contextmanager
    def engine(self, ray: RayResource) -> Iterator[tuple[Embedder, dict]]:
        """What computes the vectors of a step, and the metadata that says so: this process when FER_RAY_ADDRESS
        is unset, else a pool of actors on the Ray cluster (connected for the block). Its ``model_id`` is the one
        stored; the model is loaded here either way, so weights that cannot load fail before any work."""
        with ray.engine() as (pool, where):
            if pool is None:
                embedder = self.batch_embedder()
                yield embedder, where | {"device": str(embedder.model.device)}
                return
            embedder = RayEmbedder.on(pool, self.weights, self.device, self.precision, self.batch_size)
            yield embedder, where | {"device": embedder.device if embedder.device != "auto" else "per actor"}


class LakeResource(ConfigurableResource):
    """The lake root (FER_LAKE_URL); paths inside follow ``lake.layout``; the models' registry lives there too."""

    lake_url: str = Field(description="Lake root: folder, az://container/path or abfss://...")
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, description="Concurrent object requests.")

    def lake(self) -> Location:
        return open_location(self.lake_url)


def secret_from_env(name: str) -> Optional[EnvVar]:
    """``EnvVar(name)`` when the variable is set (its value stays out of config and the UI), else None."""
    return EnvVar(name) if os.environ.get(name) else None


def source_database(platform: Platform) -> PostgresResource:
    """The source database: ``FER_PG_DSN`` as an ``EnvVar`` (a password never reaches run config or the UI),
    else the embedded server, started on first use as ``Platform.source_dsn`` starts it."""
    return PostgresResource(dsn=secret_from_env("FER_PG_DSN"), embedded_pgdata=str(platform.settings.embedded_pgdata))


def replica_database(platform: Platform) -> PostgresResource:
    """The replica (``FER_REPLICA_DSN``), else the second embedded server."""
    return PostgresResource(
        dsn=secret_from_env("FER_REPLICA_DSN"), embedded_pgdata=str(platform.settings.embedded_replica_pgdata)
    )


def lake_root(platform: Platform) -> LakeResource:
    """The lake (``FER_LAKE_URL``)."""
    return LakeResource(lake_url=platform.settings.resolved_lake_url)


def shared_resources(platform: Platform) -> dict[str, Any]:
    """The resources two or more stages ask for, keyed as they ask, with the platform's settings."""
    settings = platform.settings
    return {
        "images": ImagesResource(
            image_root=str(platform.image_root),
            source_url=settings.resolved_source_url,
            split=settings.split,
            settle_s=settings.settle_s,
            events_queue=settings.events_queue,
            reconcile_hours=settings.reconcile_hours,
        ),
        "embedder": EmbedderResource(
            weights=settings.weights,
            device=settings.device,
            batch_size=settings.batch_size,
            num_workers=settings.num_workers,
            precision=settings.precision,
        ),
        "postgres": source_database(platform),
        "replica": replica_database(platform),
        "lake": lake_root(platform),
        "ray": RayResource(
            address=secret_from_env("FER_RAY_ADDRESS"),
            actors=settings.ray_actors,
            stall_s=settings.ray_stall_s,
            startup_s=settings.ray_startup_s,
            gpus_per_actor=settings.ray_gpus_per_actor,
        ),
    }
