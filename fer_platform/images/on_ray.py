"""The images stage on a Ray cluster: landing from the source container and the manifest's hashing and decoding
run as Ray tasks on the worker nodes, so no image byte passes through the orchestrator.

The orchestrator only lists names (the source container's blobs, the image root's folder) and keeps the ledger;
workers read each blob with their own credentials and write it into the image root, which every node mounts
at the same path (the shared volume of ``docker-compose.yml``, Azure Files on AKS), then hash and decode each
file there. Both produce exactly what the in-process path produces (``landing.download``,
``manifest.describe_here``); a pipeline that stops making progress fails after the stall limit.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import numpy as np
import polars as pl

from fer_platform.images.landings.landing import Copy
from fer_platform.images.manifest import Describe, described_blocks
from fer_platform.images.reading import describe_batch, land_batch
from fer_platform.ray_cluster.pipelines import Pool, task_pipeline

SCAN_BATCH = 64  # files hashed and decoded per task
LAND_BATCH = 32  # blobs copied per task


def describe_on_ray(image_root: Path, emotion: str, pool: Pool) -> Describe:
    """A ``manifest.Describe`` whose files are read, hashed and decoded by Ray tasks on the connected cluster
    (only the files a scan must read: ``images.scan`` picks them)."""

    def describe(paths: pl.Series) -> Generator[pl.DataFrame, None, None]:
        batches = task_pipeline(  # the paths leave as one Arrow column: no Python string per file on the driver
            {"filepath": paths.to_arrow()}, describe_batch, SCAN_BATCH, pool,
            "the Ray manifest scan", image_root=str(image_root), emotion=emotion,
        )
        return described_blocks(batches)  # numpy columns in, polars blocks out: no row is parsed

    return describe


def land_on_ray(source_url: str, image_root: Path, pool: Pool) -> Copy:
    """A ``landing.Copy`` whose blobs are copied by Ray tasks on the connected cluster."""

    def copy(names: list[str]) -> list[str]:
        landed: list[str] = []
        for batch in task_pipeline(
            {"name": np.array(names, dtype=object)}, land_batch, LAND_BATCH, pool, "landing on Ray",
            source_url=source_url, image_root=str(image_root),
        ):
            landed.extend(str(name) for name, gone in zip(batch["name"], batch["gone"]) if not gone)
        return sorted(landed)

    return copy
