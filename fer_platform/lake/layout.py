"""The lake layout, a public contract: every lake path is built here and nowhere else.

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
