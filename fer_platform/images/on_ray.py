"""The images stage on a Ray cluster: landing from the source container and the manifest's hashing and decoding
run as Ray tasks on the worker nodes, so no image byte passes through the orchestrator.

The orchestrator only lists names (the source container's blobs, the image root's folder) and keeps the ledger;
workers read each blob with their own credentials and write it into the image root, which every node mounts
at the same path (the shared volume of ``docker-compose.yml``, Azure Files on AKS), then hash and decode each
file there. Both produce exactly what the in-process path produces (``landing.download``,
``manifest.describe_here``); a pipeline that stops making progress fails after the stall limit.
"""

from __future__ import annotations

import json
from pathlib import Path

from fer_platform.images.landings.landing import Copy
from fer_platform.images.manifest import Describe
from fer_platform.images.reading import describe_batch, land_batch
from fer_platform.ray_cluster import task_pipeline

SCAN_BATCH = 64  # files hashed and decoded per task
LAND_BATCH = 32  # blobs copied per task


def describe_on_ray(image_root: Path, emotion: str, tasks: int, stall_s: float) -> Describe:
    """A ``manifest.Describe`` whose files are read, hashed and decoded by ``tasks`` Ray tasks at a time on the
    connected cluster (only the files a scan must read: ``manifest.update_manifest`` picks them)."""

    def describe(paths: list[str]) -> list[dict]:
        described: list[dict] = []
        if paths:
            for batch in task_pipeline(
                [{"filepath": path} for path in paths], describe_batch, SCAN_BATCH, tasks, stall_s,
                "the Ray manifest scan", image_root=str(image_root), emotion=emotion,
            ):
                described.extend(json.loads(row) for row in batch["row"])
        return described

    return describe


def land_on_ray(source_url: str, image_root: Path, tasks: int, stall_s: float) -> Copy:
    """A ``landing.Copy`` whose blobs are copied by Ray tasks on the connected cluster."""

    def copy(names: list[str]) -> list[str]:
        landed: list[str] = []
        rows = [{"name": name} for name in names]
        for batch in task_pipeline(
            rows, land_batch, LAND_BATCH, tasks, stall_s, "landing on Ray",
            source_url=source_url, image_root=str(image_root),
        ):
            landed.extend(str(name) for name, gone in zip(batch["name"], batch["gone"]) if not gone)
        return sorted(landed)

    return copy
