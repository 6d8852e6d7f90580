"""train_emotion_model with MLFLOW_TRACKING_URI: the run is in MLflow and champion follows the promotion."""

import mlflow
import pytest
from dagster import DagsterInstance
from mlflow import MlflowClient

from fer_platform.definitions import build_definitions
from fer_platform.orchestration.names import EMOTION_MODEL_JOB
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings
from fer_platform_tests.support.helpers import asset_metadata, check_results

pytestmark = pytest.mark.slow  # trains emotion_model against an MLflow server


def test_training_is_tracked_and_champion_follows_promotion(fer_env, tmp_path, monkeypatch):
    root = tmp_path / "faces"
    write_sample_dataset(root, per_class=20, test_per_class=2, emotions=("angry", "happy"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for key, value in {"FER_IMAGE_ROOT": str(root), "FER_TRAIN_MAX_EPOCHS": "2", "MLFLOW_TRACKING_URI": uri}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    try:
        with DagsterInstance.ephemeral() as instance:
            result = build_definitions(load_settings()).resolve_job_def(EMOTION_MODEL_JOB).execute_in_process(
                instance=instance
            )
    finally:
        mlflow.set_tracking_uri(None)
    meta = asset_metadata(result, "emotion_model")
    assert check_results(result)["not_worse_than_served"]  # the first version is promoted
    champion = MlflowClient(uri).get_model_version_by_alias("emotion_model", "champion")
    assert champion.run_id == meta["mlflow_run_id"] and champion.tags["lake_version"] == meta["version"]
