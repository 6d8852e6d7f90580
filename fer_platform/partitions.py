"""Emotion partitions: the folder names found on disk, not a hard-coded label list."""

from __future__ import annotations

import logging
from pathlib import Path

from dagster import StaticPartitionsDefinition
from dagster._core.definitions.partitions.utils.base import INVALID_PARTITION_SUBSTRINGS

log = logging.getLogger(__name__)


def is_valid_partition_key(name: str) -> bool:
    """Dagster refuses keys with '...' or control characters; such folders are skipped with a warning."""
    return bool(name) and not any(bad in name for bad in INVALID_PARTITION_SUBSTRINGS)


def discover_emotions(image_root: Path, split: str) -> list[str]:
    """Sorted names of the emotion folders under ``<image_root>/<split>/`` (empty if it does not exist)."""
    split_dir = image_root / split
    if not split_dir.is_dir():
        return []
    names = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    for name in names:
        if not is_valid_partition_key(name):
            log.warning("skipping folder %r: not usable as a Dagster partition key", name)
    return [n for n in names if is_valid_partition_key(n)]


def emotion_partitions(image_root: Path, split: str) -> StaticPartitionsDefinition:
    """One partition per emotion folder present when the definitions load."""
    return StaticPartitionsDefinition(discover_emotions(image_root, split))
