"""Frames of embeddings and a lake IO manager on a URL, for the IO manager's tests and the writer they kill."""

import numpy as np
import polars as pl
from dagster import AssetKey, build_output_context

from fer_platform.defs.lake.io_managers import LakeIOManager
from fer_platform.orchestration.resources import LakeResource

METADATA = {"lake_prefix": "raw/embeddings/fer2013"}


def frame(emotion: str, n: int) -> pl.DataFrame:
    vectors = np.random.default_rng(n).random((n, 512), dtype=np.float32)
    return pl.DataFrame(
        {
            "id": list(range(n)),
            "emotion": [emotion] * n,
            "filepath": [f"raw/images/fer2013/train/{emotion}/{i}.png" for i in range(n)],
            "vector": pl.Series(vectors, dtype=pl.Array(pl.Float32, 512)),
        }
    )


def manager_on(lake_url: str) -> LakeIOManager:
    return LakeIOManager(lake=LakeResource(lake_url=lake_url))


def write(manager: LakeIOManager, emotion: str, df: pl.DataFrame) -> None:
    context = build_output_context(
        asset_key=AssetKey("lakehouse_embeddings"), partition_key=emotion, definition_metadata=METADATA
    )
    manager.handle_output(context, df)
