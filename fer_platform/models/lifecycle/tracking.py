"""Optional MLflow tracking of ``emotion_model`` (``MLFLOW_TRACKING_URI``; unset, nothing here runs).

Each training becomes an MLflow run: the recipe as parameters, the learning curve as per-epoch metrics, the
test figures, ``model_card.md``, the confusion matrix as a picture, and ``model.pt``, registered as a version of
the MLflow model ``emotion_model`` tagged with the lake version. The alias ``champion`` follows the platform's
promotion. The lake registry stays what the service reads: MLflow mirrors it for the team's tracking server,
and a tracking server that cannot be reached never stops a training or a promotion (the failure is logged).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable

from fer_platform.models.lifecycle.registry import EMOTION_MODEL

LOG = logging.getLogger(__name__)
CHAMPION = "champion"
LAKE_VERSION_TAG = "lake_version"
# Fail fast when the server is unreachable (MLflow's defaults retry for minutes).
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def tracking_enabled() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def guarded(what: str, work: Callable[[], object], log: Callable[[str], None]) -> object | None:
    """Run ``work`` when tracking is on; any failure is logged (naming the server, never a credential)."""
    if not tracking_enabled():
        return None
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - tracking is optional: it must never fail the platform's work
        server = os.environ["MLFLOW_TRACKING_URI"].split("@")[-1]
        reason = re.sub(r"//[^/@\s]+@", "//", str(exc).splitlines()[0] if str(exc) else "")[:300]
        log(f"MLflow tracking failed ({what} at {server}): {type(exc).__name__}: {reason}")
        return None


def track_training(
    version: str, metrics: dict, files: dict[str, bytes], log: Callable[[str], None] = LOG.warning
) -> str | None:
    """Log one emotion_model training and register it in MLflow; the MLflow run id, or None."""

    def work() -> str:
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_experiment(EMOTION_MODEL)
        with mlflow.start_run(run_name=f"{EMOTION_MODEL} {version}") as run:
            mlflow.log_params(metrics["recipe"] | {"schedule": metrics["schedule"]})
            for point in metrics.get("learning_curve", []):
                step = int(point["epoch"])
                mlflow.log_metrics({k: float(v) for k, v in point.items() if k != "epoch"}, step=step)
            figures = ("accuracy", "macro_f1", "expected_calibration_error", "accuracy_deduplicated")
            mlflow.log_metrics({k: float(metrics[k]) for k in figures if metrics.get(k) is not None})
            for name, data in files.items():
                log_bytes(name, data)
            client = MlflowClient()
            if not client.search_registered_models(f"name='{EMOTION_MODEL}'"):
                client.create_registered_model(EMOTION_MODEL)
            client.create_model_version(
                EMOTION_MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id, tags={LAKE_VERSION_TAG: version}
            )
            return run.info.run_id

    return guarded("logging the training", work, log)  # type: ignore[return-value]


def log_bytes(name: str, data: bytes) -> None:
    """An artifact from bytes (``model/model.pt``, ``confusion.png``)."""
    import tempfile
    from pathlib import Path

    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(data)
        mlflow.log_artifact(str(path), str(Path(name).parent) if "/" in name else None)


def follow_promotion(version: str, log: Callable[[str], None] = LOG.warning) -> None:
    """Point the MLflow alias ``champion`` at the MLflow version of lake version ``version``."""

    def work() -> None:
        from mlflow import MlflowClient

        client = MlflowClient()
        found = client.search_model_versions(f"name='{EMOTION_MODEL}' and tags.{LAKE_VERSION_TAG}='{version}'")
        if not found:
            raise LookupError(f"no MLflow version of {EMOTION_MODEL} tagged {LAKE_VERSION_TAG}={version}")
        client.set_registered_model_alias(EMOTION_MODEL, CHAMPION, found[0].version)

    guarded(f"moving the {CHAMPION} alias", work, log)
