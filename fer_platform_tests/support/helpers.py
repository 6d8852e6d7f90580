"""Test helpers: materialize partitions through Dagster and read the table back."""

from __future__ import annotations

import numpy as np
import psycopg
from dagster import DagsterEventType, DagsterInstance, ExecuteInProcessResult
from pgvector.psycopg import register_vector

from fer_platform.definitions import build_definitions
from fer_platform.orchestration.names import EMBED_JOB, EMOTION_MODEL_JOB
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings


def run_partition(
    emotion: str, instance: DagsterInstance | None = None, job_name: str = EMBED_JOB
) -> ExecuteInProcessResult:
    """Materialize one emotion with the current env: raw_images + embeddings_table (and checks) by default."""
    job = build_definitions(load_settings()).resolve_job_def(job_name)
    instance = instance or DagsterInstance.ephemeral()
    register_emotions(instance, [emotion])
    return job.execute_in_process(partition_key=emotion, instance=instance, raise_on_error=False)


def asset_metadata(result: ExecuteInProcessResult, asset: str) -> dict:
    """One asset's materialization metadata as plain values."""
    for event in result.get_asset_materialization_events():
        if event.asset_key.path == [asset]:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"no {asset} materialization")


def trained_metadata(instance: DagsterInstance) -> dict:
    """Train emotion_model by its job with the current env (it must succeed); its materialization metadata."""
    result = build_definitions(load_settings()).resolve_job_def(EMOTION_MODEL_JOB).execute_in_process(instance=instance)
    assert result.success
    return asset_metadata(result, "emotion_model")


def embeddings_metadata(result: ExecuteInProcessResult) -> dict:
    """The embeddings_table materialization metadata as plain values."""
    return asset_metadata(result, "embeddings_table")


def check_results(result: ExecuteInProcessResult) -> dict[str, bool]:
    """Asset check name -> passed."""
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def table_rows(dsn: str, emotion: str | None = None) -> dict[str, tuple[int, str, np.ndarray]]:
    """filepath -> (id, sha256, vector) of imagenes_fer (optionally one emotion)."""
    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        rows = conn.execute(
            "SELECT filepath, id, content_sha256, vector FROM imagenes_fer WHERE %s::text IS NULL OR emotion = %s",
            (emotion, emotion),
        ).fetchall()
    return {path: (row_id, digest, vec.to_numpy()) for path, row_id, digest, vec in rows}


def data_directory(conn: psycopg.Connection) -> str:
    """The server's data folder: two connections on different server processes give different ones."""
    return conn.execute("SHOW data_directory").fetchone()[0]


def step_running(instance: DagsterInstance, step: str) -> bool:
    """True once the run in progress has started ``step`` and not finished it."""
    for run in instance.get_runs():
        started = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)
        ended = instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE})
        if any(e.step_key == step for e in started) and not any(e.step_key == step for e in ended):
            return True
    return False


def expression_rows(dsn: str, emotion: str) -> dict[str, np.ndarray]:
    """The expression vectors of one emotion, by path."""
    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        rows = conn.execute(
            "SELECT filepath, vector FROM imagenes_fer_expression WHERE emotion = %s", (emotion,)
        ).fetchall()
    return {path: vector.to_numpy() for path, vector in rows}


def big_partition(tmp_path, monkeypatch, count: int) -> str:
    """An image root whose 'happy' folder holds ``count`` images (enough for a kill to land mid-run)."""
    root = tmp_path / "many"
    write_sample_dataset(root, per_class=count, test_per_class=1, emotions=("happy",))
    monkeypatch.setenv("FER_IMAGE_ROOT", str(root))
    return "happy"


def cosines(expected: dict, got: dict) -> list[float]:
    """Cosine of each expected vector with the one got under the same key."""
    return [float(a @ got[k] / np.linalg.norm(a) / np.linalg.norm(got[k])) for k, a in expected.items()]
