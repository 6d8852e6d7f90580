"""The lake layout, a public contract: every lake path is built here and nowhere else.

``raw/images/fer2013/<split>/<emotion>/`` (the images), ``raw/embeddings/fer2013/emotion=<e>/`` (Parquet),
``models/<name>/vNNNN/`` (the registry, with ``models/<name>/_runs/`` for the checkpoints of unfinished
trainings) and ``quality/`` (the data-quality reports).

One prefix names the lake images *and* fills the Parquet ``filepath`` column, so
the two cannot disagree as they did in the seed (``raw/imagenes/train`` in the
Parquet vs ``raw/images/fer2013/train`` in the lake).
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

IMAGES_PREFIX = "raw/images/fer2013"
EMBEDDINGS_PREFIX = "raw/embeddings/fer2013"
PARTITION_COLUMN = "emotion"
MODELS_PREFIX = "models"
SPLIT_OVERLAP_PATH = "quality/split_overlap.parquet"
TRAIN_DUPLICATES_PATH = "quality/train_duplicates.parquet"
LABEL_ISSUES_PATH = "quality/label_issues.parquet"

PathLike = TypeVar("PathLike", str, pl.Expr)


def image_path(filepath: PathLike) -> PathLike:
    """The lake path (relative to FER_LAKE_URL) of an image stored as ``<split>/<emotion>/<name>``.

    Takes a string or a polars expression (a whole ``filepath`` column), so the
    Parquet export and the image copies share the one formula.
    """
    return IMAGES_PREFIX + "/" + filepath


def is_image_path(path: str) -> bool:
    """Whether ``path`` (relative to the lake root) lies under the lake's image folder."""
    return path.startswith(IMAGES_PREFIX + "/")


def partition_file(prefix: str, emotion: str) -> str:
    """Hive-style Parquet file of one emotion: ``<prefix>/emotion=<e>/part-0.parquet``."""
    return f"{prefix}/{PARTITION_COLUMN}={emotion}/part-0.parquet"


def model_prefix(name: str) -> str:
    """Where the versions of model ``name`` live: ``models/<name>``."""
    return f"{MODELS_PREFIX}/{name}"


def training_run_folder(name: str, run: str) -> str:
    """The checkpoint folder of one unfinished training of model ``name``: ``models/<name>/_runs/<run>``."""
    return f"{model_prefix(name)}/_runs/{run}"
