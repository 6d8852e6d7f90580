"""Emotion partitions: the folder names found on disk, not a hard-coded label list.

The partitions are dynamic (``emotion``) so that a folder created while the
platform runs becomes a partition without a redeploy: the new-images sensor
adds it. Loading the definitions also registers the folders already on disk in
the instance of ``DAGSTER_HOME``, so ``dagster asset materialize --partition
<emotion>`` works on a fresh instance before any sensor tick.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dagster import DagsterInstance, DynamicPartitionsDefinition

from fer_platform.images.folders import discover_emotions

log = logging.getLogger(__name__)

EMOTION_PARTITIONS = DynamicPartitionsDefinition(name="emotion")


def register_emotions(instance: DagsterInstance, emotions: list[str]) -> list[str]:
    """Add the emotions the instance does not know yet as partitions; returns those added."""
    known = set(instance.get_dynamic_partitions(EMOTION_PARTITIONS.name))
    missing = [e for e in emotions if e not in known]
    if missing:
        instance.add_dynamic_partitions(EMOTION_PARTITIONS.name, missing)
    return missing


def register_folders_on_load(image_root: Path, split: str) -> None:
    """Register the emotion folders in the ``DAGSTER_HOME`` instance, when there is one.

    Best effort: an instance whose storage is down must not stop the definitions
    from loading (the sensor registers the folders once it runs).
    """
    if not os.environ.get("DAGSTER_HOME"):
        return
    try:
        with DagsterInstance.get() as instance:
            register_emotions(instance, discover_emotions(image_root, split))
    except Exception as exc:  # noqa: BLE001 - storage of any kind may fail; loading goes on
        log.warning("could not register emotion partitions in DAGSTER_HOME's instance: %s", exc)
