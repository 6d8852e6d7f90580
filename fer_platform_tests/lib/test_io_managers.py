"""The lake IO manager: same code for a local folder and Azurite, one partition or many."""

import numpy as np
import polars as pl
from dagster import (
    AssetKey,
    PartitionKeyRange,
    StaticPartitionsDefinition,
    build_input_context,
    build_output_context,
)

from fer_platform.lib.io_managers import LakeParquetIOManager
from fer_platform.lib.resources import LakeResource

PARTITIONS = StaticPartitionsDefinition(["happy", "sad"])


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


def test_roundtrip_one_and_many_partitions(lake_url):
    manager = LakeParquetIOManager(lake=LakeResource(lake_url=lake_url, source_url=lake_url))
    metadata = {"lake_prefix": "raw/embeddings/fer2013"}
    written = {"happy": frame("happy", 3), "sad": frame("sad", 2)}
    for key, df in written.items():
        context = build_output_context(
            asset_key=AssetKey("lakehouse_embeddings"), partition_key=key, definition_metadata=metadata
        )
        manager.handle_output(context, df)
    location = manager.lake.lake()
    assert location.fs.exists(location.path("raw/embeddings/fer2013/emotion=sad/part-0.parquet"))
    upstream = build_output_context(asset_key=AssetKey("lakehouse_embeddings"), definition_metadata=metadata)
    both = manager.load_input(
        build_input_context(
            asset_key=AssetKey("lakehouse_embeddings"),
            upstream_output=upstream,
            asset_partitions_def=PARTITIONS,
            asset_partition_key_range=PartitionKeyRange("happy", "sad"),
        )
    )
    assert both.height == 5 and both.schema["vector"] == pl.Array(pl.Float32, 512)
    assert (
        both.filter(pl.col("emotion") == "sad")["vector"].to_numpy().tolist()
        == written["sad"]["vector"].to_numpy().tolist()
    )
