"""The README's first command: sample data if needed, embedded PostgreSQL, every partition embedded."""

from __future__ import annotations

import os
import sys
from collections import Counter

import click
from dagster import DagsterInstance

from fer_platform.console import QUIET_RUN_CONFIG, showing_progress
from fer_platform.definitions import build_definitions
from fer_platform.embedding.model import WeightsUnavailableError
from fer_platform.images.folders import discover_emotions
from fer_platform.lib.from_settings import build_resources
from fer_platform.lib.names import (
    CLASSIFIER_JOB,
    EMOTION_CLASSIFIER,
    INDEX_JOB,
    PIPELINE_JOB,
    PIPELINE_STAGES,
    VECTOR_INDEX,
)
from fer_platform.lib.partitions import register_emotions
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import FerSettings, load_settings
from fer_platform.table.schema import DEFAULT_TABLE


def ensure_images(settings: FerSettings, per_class: int) -> None:
    """Generate the synthetic data set when the (default) image root has no split folder yet."""
    root = settings.resolved_image_root
    if not (root / settings.split).is_dir():
        count = write_sample_dataset(root, per_class=per_class, test_per_class=max(1, per_class // 4))
        click.echo(f"wrote {count} synthetic FER images under {root}")


def ensure_weights(settings: FerSettings, weights_explicit: bool) -> FerSettings:
    """Check the weights load; an offline demo with the *default* weights continues with random ones, loudly."""
    try:
        build_resources(settings)["embedder"].model()
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
            result = defs.resolve_job_def(PIPELINE_JOB).execute_in_process(
                partition_key=emotion, instance=instance, raise_on_error=False, run_config=run_config
            )
            stage_seconds.update(step_seconds(instance, result.run_id))
            click.echo(f"{emotion:>12}: {'ok' if result.success else 'FAILED'}  {summary(result)}")
            if not result.success:
                raise click.ClickException(f"the run for {emotion!r} failed; see the Dagster UI for its logs")
        for name in (INDEX_JOB, CLASSIFIER_JOB):
            result = defs.resolve_job_def(name).execute_in_process(
                instance=instance, raise_on_error=False, run_config=run_config
            )
            stage_seconds.update(step_seconds(instance, result.run_id))
            click.echo(f"{name:>24}: {'ok' if result.success else 'FAILED (see the Dagster UI)'}")
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
        f"search:    FER_API_KEY=<a key> FER_HOME={settings.home} .venv/bin/fer-platform serve   "
        f"(page on http://127.0.0.1:8000/, API docs on /docs)"
    )


def database(dsn: str | None, variable: str, pgdata) -> str:
    """Where a database is, for the summary: the variable's name (never the DSN: it may hold a password)."""
    return f"the server in {variable}" if dsn else f"embedded PostgreSQL in {pgdata}"


STAGES = (*PIPELINE_STAGES, VECTOR_INDEX, EMOTION_CLASSIFIER)


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
