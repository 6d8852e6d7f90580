"""Per-epoch checkpoints of an ``emotion_model`` training run, in the lake, so a killed run resumes.

A run is named by what it trains on and how: ``models/emotion_model/_runs/<data digest>-<recipe hash>/``. After
every epoch the trainer writes ``checkpoint.pt`` there (weights, optimiser, schedule, random states, the epoch,
the best weights so far, the curve and the seconds spent), whole or not at all (``Location.write_atomic``).
A re-run with the same data and recipe continues from it and counts the time already spent against the budget.
A checkpoint that cannot be read, or that another recipe wrote, is ignored with a warning and training starts
fresh. The run's folder is removed once its version is registered.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import asdict

import torch

from fer_platform.lake.layout import training_run_folder
from fer_platform.models.training.recipe import Recipe
from fer_platform.storage.location import Location

LOG = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


def recipe_hash(recipe: Recipe) -> str:
    return hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:12]


class Checkpoints:
    """The checkpoint of one training run (data digest + recipe) under ``models/<model>/_runs/`` in the lake."""

    def __init__(
        self, lake: Location, model: str, digest: str, recipe: Recipe, warn: Callable[[str], None] = LOG.warning
    ):
        self.lake, self.recipe, self.warn = lake, recipe, warn
        self.folder = training_run_folder(model, f"{digest[:16]}-{recipe_hash(recipe)}")
        self.ensured = False

    def save(self, state: dict) -> None:
        if not self.ensured:  # a fresh lake's container may not exist before its first version is registered
            self.lake.ensure()
            self.ensured = True
        buffer = io.BytesIO()
        torch.save(state | {"recipe": asdict(self.recipe)}, buffer)
        self.lake.write_atomic(f"{self.folder}/{CHECKPOINT}", buffer.getvalue())

    def load(self) -> dict | None:
        """The last checkpoint of this run, or None (none yet, damaged, or another recipe's: warned)."""
        path = f"{self.folder}/{CHECKPOINT}"
        try:
            data = self.lake.read(path)
        except FileNotFoundError:
            return None
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any defect of the file means "start fresh"
            self.warn(f"ignoring the damaged checkpoint {path} ({type(exc).__name__}): training starts fresh")
            return None
        if not isinstance(state, dict) or state.get("recipe") != asdict(self.recipe):
            self.warn(f"ignoring the checkpoint {path}: another recipe wrote it; training starts fresh")
            return None
        return state

    def clear(self) -> None:
        """Remove the run's folder (its version is registered)."""
        if self.lake.names(f"{self.folder}/"):
            self.lake.fs.rm(self.lake.path(self.folder), recursive=True)
