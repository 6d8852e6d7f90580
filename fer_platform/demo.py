"""The README's first command: sample data if needed, embedded PostgreSQL, every partition embedded."""

from __future__ import annotations

import os
import shlex
import sys
from collections import Counter
from pathlib import Path

import click
from dagster import DagsterInstance

from fer_platform.console import QUIET_RUN_CONFIG, showing_progress
from fer_platform.definitions import build_definitions
from fer_platform.embeddings.model import WeightsUnavailableError
from fer_platform.factory import Platform
from fer_platform.images.folders import discover_emotions
from fer_platform.images.manifest import list_emotion_files
from fer_platform.models.faces import NotEnoughImagesError, check_counts
from fer_platform.orchestration.names import (
    CLASSIFIER_JOB,
    EMOTION_CLASSIFIER,
    EMOTION_MODEL,
    EMOTION_MODEL_JOB,
    EXPRESSION_JOB,
    EXPRESSION_VECTORS,
    INDEX_JOB,
    NOT_WORSE_THAN_SERVED,
    PIPELINE_JOB,
    PIPELINE_STAGES,
    VECTOR_INDEX,
)
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.sample_data import is_sample, write_sample_dataset
from fer_platform.settings import FerSettings, load_settings
from fer_platform.table.schema import DEFAULT_TABLE

DEMO_TRAIN_BUDGET_MINUTES = 1.0  # the demo shows the model path; real training is its own job (default 30 min)


def ensure_images(settings: FerSettings, per_class: int) -> None:
    """Generate the synthetic data set when the (default) image root has no split folder yet."""
    root = settings.resolved_image_root
    if not (root / settings.split).is_dir():
        count = write_sample_dataset(root, per_class=per_class, test_per_class=max(1, per_class // 4))
        click.echo(f"wrote {count} synthetic FER images under {root}")


def ensure_weights(settings: FerSettings, weights_explicit: bool) -> FerSettings:
    """Check the weights load; an offline demo with the *default* weights continues with random ones, loudly."""
    try:
        Platform(settings).query_model()
        return settings
    except WeightsUnavailableError as exc:
        if weights_explicit:
            raise click.ClickException(str(exc)) from exc
        click.secho(f"WARNING: {exc}\nThe demo continues with FER_WEIGHTS=random.", fg="yellow", err=True)
        os.environ["FER_WEIGHTS"] = "random"
        return load_settings()


def ensure_dagster_home(settings: FerSettings) -> str:
    """Use DAGSTER_HOME when set, else a folder under FER_HOME, so runs show up in the UI."""
    if "DAGSTER_HOME" in os.environ:
        return os.environ["DAGSTER_HOME"]
    home = settings.home / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()  # the demo's own instance: local storage, Dagster's defaults
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)


def run_demo(settings: FerSettings, per_class: int, weights_explicit: bool, verbose: bool = False) -> None:
    """Materialize every stage (fer_pipeline) for every emotion folder, one run per partition.

    The console shows progress bars (plain lines off a terminal), one summary line per partition and the
    closing summary; Dagster's event stream goes to the run storage and the UI unless ``verbose``.
    """
    ensure_images(settings, per_class)
    settings = ensure_weights(settings, weights_explicit)
    if "FER_TRAIN_BUDGET_MINUTES" not in os.environ:
        settings = settings.model_copy(update={"train_budget_minutes": DEMO_TRAIN_BUDGET_MINUTES})
    dagster_home = ensure_dagster_home(settings)
    defs = build_definitions(settings)
    emotions = discover_emotions(settings.resolved_image_root, settings.split)
    if not emotions:
        raise click.ClickException(f"no emotion folders under {settings.resolved_image_root / settings.split}")
    run_config = None if verbose else QUIET_RUN_CONFIG
    stage_seconds: Counter[str] = Counter()
    with DagsterInstance.get() as instance, showing_progress(live=sys.stdout.isatty() and not verbose):
        register_emotions(instance, emotions)
        for emotion in emotions:
            result = run_job(defs, PIPELINE_JOB, instance, run_config, stage_seconds, partition_key=emotion)
            click.echo(f"{emotion:>12}: {'ok' if result.success else 'FAILED'}  {summary(result)}")
            if not result.success:
                raise click.ClickException(f"the run for {emotion!r} failed; see the Dagster UI for its logs")
        for name in (INDEX_JOB, CLASSIFIER_JOB):
            result = run_job(defs, name, instance, run_config, stage_seconds)
            click.echo(f"{name:>24}: {'ok' if result.success else 'FAILED (see the Dagster UI)'}")
        train_emotion_model(settings, defs, instance, run_config, stage_seconds, emotions)
    click.echo("\nseconds per stage (with its checks): " + ", ".join(f"{k} {v:.1f}" for k, v in stage_seconds.items()))
    click.echo(
        f"\nimages:    {settings.resolved_image_root}\n"
        f"database:  {database(settings.pg_dsn, 'FER_PG_DSN', settings.embedded_pgdata)}, table {DEFAULT_TABLE}\n"
        f"replica:   {database(settings.replica_dsn, 'FER_REPLICA_DSN', settings.embedded_replica_pgdata)}\n"
        f"lake:      {settings.resolved_lake_url} (images under raw/images/fer2013/, Parquet under "
        f"raw/embeddings/fer2013/); source blobs: {settings.resolved_source_url}\n"
        f"dagster:   DAGSTER_HOME={dagster_home}\n"
        f"UI:        DAGSTER_HOME={dagster_home} FER_HOME={settings.home} "
        f".venv/bin/dagster dev -w workspace.yaml   (then open http://127.0.0.1:3000)\n"
        f"search:    {serve_command(settings)}   (with FER_API_KEY exported, e.g. "
        f"`export FER_API_KEY=$(openssl rand -hex 16)`; page on http://127.0.0.1:8000/, API docs on /docs)"
    )


def serve_command(settings: FerSettings) -> str:
    """``fer-platform serve`` with the settings this demo ran on that decide what it serves (the weights it fell
    back to included), so that it runs as printed; DSNs and keys stay in the environment, never on screen."""
    env = {"FER_HOME": str(settings.home)}
    if settings.weights != "imagenet":
        env["FER_WEIGHTS"] = settings.weights
    if settings.precision != "fp32":
        env["FER_PRECISION"] = settings.precision
    if settings.lake_url:
        env["FER_LAKE_URL"] = settings.lake_url
    script = Path(sys.executable).parent / "fer-platform"
    program = str(script) if script.exists() else "fer-platform"
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.quote(program), "serve"])


def data_name(image_root: Path) -> str:
    """What a model was trained on, in words."""
    return "the synthetic sample" if is_sample(image_root) else str(image_root)


def run_job(defs, name: str, instance: DagsterInstance, run_config, stage_seconds: Counter[str], **kwargs):
    """Run one job in process, adding its step times to ``stage_seconds``."""
    result = defs.resolve_job_def(name).execute_in_process(
        instance=instance, raise_on_error=False, run_config=run_config, **kwargs
    )
    stage_seconds.update(step_seconds(instance, result.run_id))
    return result


def train_emotion_model(
    settings: FerSettings, defs, instance: DagsterInstance, run_config, stage_seconds: Counter[str], emotions: list
) -> None:
    """A short training of emotion_model on the sample (FER_TRAIN_BUDGET_MINUTES if set, else one minute), then
    its expression vectors; skipped, saying why, when the sample is too small to train on."""
    root = settings.resolved_image_root
    try:
        check_counts({e: len(list_emotion_files(root, "train", e)) for e in discover_emotions(root, "train")}, root)
    except NotEnoughImagesError as exc:
        click.echo(f"{EMOTION_MODEL_JOB:>24}: skipped ({exc})")
        return
    result = run_job(defs, EMOTION_MODEL_JOB, instance, run_config, stage_seconds)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    verdict = checks.get(NOT_WORSE_THAN_SERVED)
    if verdict is None:
        click.echo(f"{EMOTION_MODEL_JOB:>24}: FAILED (see the Dagster UI)")
        return
    version = verdict.metadata["candidate"].value
    accuracy = verdict.metadata["candidate_accuracy"].value
    state = "promoted" if verdict.passed else f"not promoted: {verdict.description}"
    state += f" (test accuracy {accuracy:.1%}, trained and tested on {data_name(root)})"
    click.echo(f"{EMOTION_MODEL_JOB:>24}: ok, {version} {state}")
    for emotion in emotions:
        run_job(defs, EXPRESSION_JOB, instance, run_config, stage_seconds, partition_key=emotion)
    advice = "set FER_IMAGE_ROOT to FER2013 and " if is_sample(root) else ""
    click.echo(
        f"{'':>24}  a short training ({settings.train_budget_minutes:g} min); for a real model {advice}run the job "
        f"{EMOTION_MODEL_JOB} from the UI (FER_TRAIN_BUDGET_MINUTES, default 30; see README)"
    )


def database(dsn: str | None, variable: str, pgdata) -> str:
    """Where a database is, for the summary: the variable's name (never the DSN: it may hold a password)."""
    return f"the server in {variable}" if dsn else f"embedded PostgreSQL in {pgdata}"


STAGES = (*PIPELINE_STAGES, VECTOR_INDEX, EMOTION_CLASSIFIER, EMOTION_MODEL, EXPRESSION_VECTORS)


def step_seconds(instance: DagsterInstance, run_id: str) -> Counter[str]:
    """Wall seconds per stage of a run (an asset's step plus the steps of its checks)."""
    seconds: Counter[str] = Counter()
    for stats in instance.get_run_step_stats(run_id):
        stage = max(
            (s for s in STAGES if stats.step_key == s or stats.step_key.startswith(f"{s}_")),
            key=len,
            default=stats.step_key,  # a stage added later is shown under its own step key
        )
        if stats.start_time and stats.end_time:
            seconds[stage] += stats.end_time - stats.start_time
    return seconds


def summary(result) -> str:
    """The embeddings materialization's counts, on one line."""
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        if "embedded" in meta:
            keys = ("embedded", "reused_vectors", "unchanged", "removed", "failed", "partition_rows", "images_per_s")
            return "  ".join(f"{k}={meta[k].value}" for k in keys if k in meta)
    return ""
