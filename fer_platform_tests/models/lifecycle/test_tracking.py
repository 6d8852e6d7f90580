"""MLflow tracking against a real MLflow store (SQLite): a training's parameters, per-epoch metrics and files,
its registered version, the champion alias following promotion; unset or unreachable, nothing stops."""

import time

import mlflow
import pytest
from mlflow import MlflowClient

from fer_platform.models.lifecycle.tracking import follow_promotion, track_training

METRICS = {
    "recipe": {"arch": "vgg_small", "budget_s": 60.0, "learning_rate": 0.01},
    "schedule": "one_cycle",
    "learning_curve": [
        {"epoch": 1, "train_loss": 1.2, "validation_accuracy": 0.4, "learning_rate": 0.001},
        {"epoch": 2, "train_loss": 0.9, "validation_accuracy": 0.6, "learning_rate": 0.005},
    ],
    "accuracy": 0.61,
    "macro_f1": 0.58,
    "expected_calibration_error": 0.05,
    "accuracy_deduplicated": None,
}
FILES = {"model/model.pt": b"weights", "model_card.md": b"# emotion_model", "confusion.png": b"\x89PNG"}


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # the local artifact store lands here
    mlflow.set_tracking_uri(uri)
    yield MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def test_a_training_is_logged_registered_and_its_promotion_followed(tracking):
    run_id = track_training("v0003", METRICS, FILES)
    run = tracking.get_run(run_id)
    assert run.data.params["arch"] == "vgg_small" and run.data.params["schedule"] == "one_cycle"
    assert [m.value for m in tracking.get_metric_history(run_id, "validation_accuracy")] == [0.4, 0.6]
    assert run.data.metrics["accuracy"] == 0.61 and "accuracy_deduplicated" not in run.data.metrics
    logged = {f.path for folder in (None, "model") for f in tracking.list_artifacts(run_id, folder)}
    assert {"model_card.md", "confusion.png", "model/model.pt"} <= logged
    follow_promotion("v0003")
    champion = tracking.get_model_version_by_alias("emotion_model", "champion")
    assert champion.run_id == run_id and champion.tags["lake_version"] == "v0003"


def test_unset_tracking_does_nothing_and_an_unreachable_server_is_only_logged(monkeypatch):
    said = []
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert track_training("v0001", METRICS, FILES, said.append) is None and said == []
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:secret@127.0.0.1:9")
    start = time.monotonic()
    assert track_training("v0001", METRICS, FILES, said.append) is None
    follow_promotion("v0001", said.append)
    assert time.monotonic() - start < 60
    assert len(said) == 2 and all(line.startswith("MLflow tracking failed") for line in said)
    assert not any("secret" in line for line in said) and "127.0.0.1:9" in said[0]
