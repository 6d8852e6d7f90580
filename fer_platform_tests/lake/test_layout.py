"""The lake layout: images and the Parquet ``filepath`` column share one formula; partition files are Hive-style."""

import polars as pl

from fer_platform.lake.layout import IMAGES_PREFIX, image_path, is_image_path, partition_file


def test_image_path_is_the_same_for_a_string_and_a_column():
    assert image_path("train/happy/a.png") == f"{IMAGES_PREFIX}/train/happy/a.png"
    column = pl.DataFrame({"filepath": ["train/happy/a.png"]}).select(image_path(pl.col("filepath")))
    assert column.item() == image_path("train/happy/a.png")
    assert is_image_path(image_path("train/sad/b.png")) and not is_image_path("raw/embeddings/fer2013/x")


def test_partition_file_is_hive_style():
    assert partition_file("raw/embeddings/fer2013", "sad") == "raw/embeddings/fer2013/emotion=sad/part-0.parquet"
