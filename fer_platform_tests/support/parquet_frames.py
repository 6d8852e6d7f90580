"""Frames of embeddings and a lake IO manager on a URL, for the IO manager's tests and the writer they kill."""

import numpy as np
import polars as pl
from dagster import AssetKey, build_output_context

from fer_platform.defs.lake.io_managers import LakeIOManager
from fer_platform.lake.delta import EmbeddingsChange
from fer_platform.orchestration.resources import LakeResource

METADATA = {"lake_prefix": "raw/embeddings/fer2013"}


def frame(emotion: str, n: int, start: int = 0) -> pl.DataFrame:
    """Rows with ids ``start..start+n-1`` and random vectors seeded by n."""
    vectors = np.random.default_rng(n).random((n, 512), dtype=np.float32)
    ids = list(range(start, start + n))
    return pl.DataFrame(
        {
            "id": ids,
            "emotion": [emotion] * n,
            "filepath": [f"raw/images/fer2013/train/{emotion}/{i}.png" for i in ids],
            "vector": pl.Series(vectors, dtype=pl.Array(pl.Float32, 512)),
        }
    )


def manager_on(lake_url: str) -> LakeIOManager:
    return LakeIOManager(lake=LakeResource(lake_url=lake_url))


def write(
    manager: LakeIOManager, emotion: str, df: pl.DataFrame, ids: list[int] | None = None, horizon: int = 1
) -> dict:
    """Commit ``df`` as the change of ``emotion`` (the whole partition when ``ids`` is None); its metadata."""
    context = build_output_context(
        asset_key=AssetKey("lakehouse_embeddings"), partition_key=emotion, definition_metadata=METADATA
    )
    manager.handle_output(context, EmbeddingsChange(emotion, df, ids, horizon))
    return {k: getattr(v, "value", v) for k, v in context.consume_logged_metadata().items()}
