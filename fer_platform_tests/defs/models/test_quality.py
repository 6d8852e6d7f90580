"""split_overlap and label_issues materialized on a fresh instance (they read the folders themselves), their
Parquet files in the lake, the WARN check, and emotion_model trained without the flagged images."""

import io
import shutil

import polars as pl
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance
from PIL import Image

from fer_platform.definitions import build_definitions
from fer_platform.orchestration.names import EMOTION_MODEL_JOB
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform_tests.support.helpers import asset_metadata
from fer_platform_tests.support.textures import save, textures

pytestmark = pytest.mark.slow  # trains label_issues folds

QUALITY = [AssetKey("split_overlap"), AssetKey("label_issues")]


def materialize(keys: list[AssetKey]):
    job = build_definitions(load_settings()).resolve_implicit_global_asset_job_def()
    with DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(instance=instance, asset_selection=keys, raise_on_error=False)


def lake_parquet(path: str) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(open_location(load_settings().resolved_lake_url).read(path)))


def test_quality_assets_write_the_lake_and_warn_about_copies(fer_env, tmp_path, monkeypatch):
    root = tmp_path / "faces"
    write_sample_dataset(root, per_class=24, test_per_class=2, emotions=("angry", "happy", "sad"))
    shutil.copy(root / "train" / "happy" / "im0.png", root / "test" / "happy" / "copied.png")
    with Image.open(root / "train" / "sad" / "im3.png") as face:  # the same pixels in other bytes, inside train/
        face.save(root / "train" / "sad" / "resaved.png", compress_level=1)
    for k, image in enumerate(textures(3, seed=5)):  # unlike every synthetic face: left after deduplication
        save(root / "test" / "angry" / f"texture{k}.png", image)
    for key, value in {"FER_IMAGE_ROOT": str(root), "FER_TRAIN_MAX_EPOCHS": "3"}.items():
        monkeypatch.setenv(key, value)
    result = materialize(QUALITY)
    assert result.success
    overlap = lake_parquet("quality/split_overlap.parquet")
    assert overlap.columns == ["test_filepath", "train_filepath", "kind", "distance"]
    row = overlap.filter(pl.col("kind") == "identical").row(0, named=True)
    assert (row["test_filepath"], row["train_filepath"]) == ("test/happy/copied.png", "train/happy/im0.png")
    duplicates = lake_parquet("quality/train_duplicates.parquet")
    assert duplicates.columns == ["filepath", "copy_filepath", "kind", "distance"]
    twins = duplicates.filter(pl.col("kind") == "identical").select("filepath", "copy_filepath").rows()
    pair = ("train/sad/im3.png", "train/sad/resaved.png")
    assert sorted(twins) == [pair, pair[::-1]]
    assert asset_metadata(result, "split_overlap")["train_duplicates"] == len(duplicates)
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "no_test_images_in_train" and not check.passed
    assert check.severity == AssetCheckSeverity.WARN
    issues = lake_parquet("quality/label_issues.parquet")
    assert issues.columns == ["filepath", "given_label", "suggested_label", "score", "is_issue"]
    assert len(issues) == 73 and asset_metadata(result, "label_issues")["issues"] == int(issues["is_issue"].sum())
    # Three epochs per fold flag many: the exclusion is tested on two flags of our own, in the same file.
    ours = pl.col("filepath").is_in(["train/sad/im0.png", "train/happy/im1.png"])
    flagged = issues.with_columns(ours.alias("is_issue"))
    buffer = io.BytesIO()
    flagged.write_parquet(buffer)
    open_location(load_settings().resolved_lake_url).write_atomic("quality/label_issues.parquet", buffer.getvalue())
    monkeypatch.setenv("FER_EXCLUDE_LABEL_ISSUES", "true")
    job = build_definitions(load_settings()).resolve_job_def(EMOTION_MODEL_JOB)
    with DagsterInstance.ephemeral() as instance:
        trained = job.execute_in_process(instance=instance, raise_on_error=False)
    meta = asset_metadata(trained, "emotion_model")
    assert meta["train_samples"] == 71 and meta["excluded_label_issues"] is True
    assert 0 <= meta["accuracy_deduplicated"] <= 1


def test_label_issues_refuses_too_few_images_per_fold_with_the_counts(fer_env):
    result = materialize([AssetKey("label_issues")])  # fer_env: 4 train images per emotion
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).event_specific_data.error.to_string()
    assert "at least 5 images per emotion" in failure and "counts: angry=4, happy=4, sad=4" in failure
