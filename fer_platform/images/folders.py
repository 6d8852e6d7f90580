"""The emotion folders of a split: their names are the labels (any label set works) and the partition keys."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

# What Dagster refuses in a partition key (its INVALID_PARTITION_SUBSTRINGS; a unit test keeps them equal).
INVALID_KEY_SUBSTRINGS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")


def is_valid_partition_key(name: str) -> bool:
    """Dagster refuses keys with '...' or control characters; such folders are skipped with a warning."""
    return bool(name) and not any(bad in name for bad in INVALID_KEY_SUBSTRINGS)


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
