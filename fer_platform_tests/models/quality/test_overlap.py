"""split_overlap's search: planted copies of train images in test/ are found (identical bytes, the same pixels
saved again, mirrored, and near: re-encoded, brightened, shifted, a mirrored JPEG) and nothing else."""

import numpy as np
import polars as pl
from PIL import Image, ImageEnhance

from fer_platform.models.faces import load_split
from fer_platform.models.quality.overlap import find_overlap, train_duplicates, without_overlap
from fer_platform_tests.support.textures import save, textures


def test_planted_copies_are_found_and_distinct_images_are_not(tmp_path):
    train = textures(40, seed=1)
    for i, img in enumerate(train):
        save(tmp_path / "train" / ("a" if i % 2 else "b") / f"t{i}.png", img)
    for i, img in enumerate(textures(20, seed=2)):  # distinct test images
        save(tmp_path / "test" / "a" / f"d{i}.png", img)
    (tmp_path / "test" / "b").mkdir(parents=True)
    (tmp_path / "test" / "b" / "same.png").write_bytes((tmp_path / "train" / "b" / "t0.png").read_bytes())
    save(tmp_path / "test" / "b" / "jpeg.jpg", train[2], "JPEG", quality=60)
    brighter = np.array(ImageEnhance.Brightness(Image.fromarray(train[4])).enhance(1.15))
    save(tmp_path / "test" / "b" / "bright.png", brighter)
    save(tmp_path / "test" / "a" / "shifted.png", np.roll(train[3], (2, -1), axis=(0, 1)))
    Image.fromarray(train[5]).save(tmp_path / "test" / "a" / "resaved.png", compress_level=0)  # new bytes
    save(tmp_path / "test" / "a" / "mirror.png", np.ascontiguousarray(train[6][:, ::-1]))
    save(tmp_path / "test" / "b" / "mirror_jpeg.jpg", np.ascontiguousarray(train[8][:, ::-1]), "JPEG", quality=60)
    train_set = load_split(tmp_path, "train")
    test_set = load_split(tmp_path, "test", train_set.classes)
    found = find_overlap(train_set, test_set)
    assert dict(zip(found["test_filepath"], found["train_filepath"])) == {
        "test/a/mirror.png": "train/b/t6.png",
        "test/a/resaved.png": "train/a/t5.png",
        "test/a/shifted.png": "train/a/t3.png",
        "test/b/mirror_jpeg.jpg": "train/b/t8.png",
        "test/b/bright.png": "train/b/t4.png",
        "test/b/jpeg.jpg": "train/b/t2.png",
        "test/b/same.png": "train/b/t0.png",
    }
    kinds = dict(zip(found["test_filepath"], found["kind"]))
    assert kinds["test/b/same.png"] == kinds["test/a/resaved.png"] == "identical"
    assert kinds["test/a/mirror.png"] == "mirrored" and kinds["test/b/mirror_jpeg.jpg"] == "near"
    assert found.filter(pl.col("kind") == "near")["distance"].max() < 0.05
    assert len(without_overlap(test_set, found).files) == 20


def test_copies_inside_train_are_reported_with_their_twin(tmp_path):
    images = textures(12, seed=3)
    for i, img in enumerate(images):
        save(tmp_path / "train" / ("a" if i % 2 else "b") / f"t{i}.png", img)
    save(tmp_path / "train" / "a" / "jpeg.jpg", images[2], "JPEG", quality=60)
    save(tmp_path / "train" / "b" / "mirror.png", np.ascontiguousarray(images[5][:, ::-1]))
    save(tmp_path / "train" / "b" / "again.png", images[7], compress_level=1)  # other bytes, the same pixels
    found = train_duplicates(load_split(tmp_path, "train"))
    assert found.columns == ["filepath", "copy_filepath", "kind", "distance"]
    assert dict(zip(found["filepath"], found["copy_filepath"])) == {
        "train/a/jpeg.jpg": "train/b/t2.png", "train/b/t2.png": "train/a/jpeg.jpg",
        "train/b/mirror.png": "train/a/t5.png", "train/a/t5.png": "train/b/mirror.png",
        "train/b/again.png": "train/a/t7.png", "train/a/t7.png": "train/b/again.png",
    }
    kinds = dict(zip(found["filepath"], found["kind"]))
    assert kinds["train/a/jpeg.jpg"] == "near" and kinds["train/b/mirror.png"] == "mirrored"
    assert kinds["train/b/again.png"] == kinds["train/a/t7.png"] == "identical"
    assert found.filter(pl.col("kind") != "near")["distance"].to_list() == [0.0] * 4
