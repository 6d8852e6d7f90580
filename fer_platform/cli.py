"""The ``fer-platform`` command: sample data and the main job on embedded defaults."""

from __future__ import annotations

import os
from pathlib import Path

import click

from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings


@click.group()
def main() -> None:
    """FER embeddings platform."""


@main.command("sample-data")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--per-class", default=20, show_default=True, help="Train images per emotion.")
@click.option("--test-per-class", default=5, show_default=True, help="Test images per emotion.")
@click.option("--emotions", default=None, help="Comma-separated labels (default: the 7 FER2013 emotions).")
def sample_data(root: Path, per_class: int, test_per_class: int, emotions: str | None) -> None:
    """Write a deterministic synthetic FER-layout data set under ROOT."""
    kwargs = {"emotions": [e.strip() for e in emotions.split(",")]} if emotions else {}
    count = write_sample_dataset(root, per_class=per_class, test_per_class=test_per_class, **kwargs)
    click.echo(f"wrote {count} images under {root}")


@main.command()
@click.option("--per-class", default=20, show_default=True, help="Sample images per emotion, if generated.")
def demo(per_class: int) -> None:
    """Run the main job (fer_pipeline: every stage, every emotion) on the configured or embedded defaults."""
    from fer_platform.demo import run_demo  # heavy imports (torch, dagster) only for this command

    run_demo(load_settings(), per_class, weights_explicit="FER_WEIGHTS" in os.environ)


@main.command()
@click.option("--jobs", default=0, show_default=True, help="Parallel pg_dump/pg_restore jobs (0 = CPU count).")
def migrate(jobs: int) -> None:
    """Initial migration: pg_dump the source imagenes_fer and pg_restore it into the replica."""
    from fer_platform.embeddings.store import DEFAULT_TABLE  # heavy imports only for this command
    from fer_platform.postgres.resource import PostgresResource
    from fer_platform.replica.migrate import migrate as dump_restore

    settings = load_settings()
    source = PostgresResource(dsn=settings.pg_dsn, embedded_pgdata=str(settings.embedded_pgdata))
    replica = PostgresResource(dsn=settings.replica_dsn, embedded_pgdata=str(settings.embedded_replica_pgdata))
    result = dump_restore(source.conninfo(), replica.conninfo(), DEFAULT_TABLE, jobs or None)
    click.echo(
        f"migrated {result.rows} rows: pg_dump {result.dump_s:.1f} s ({result.dump_bytes / 1e6:.1f} MB), "
        f"pg_restore {result.restore_s:.1f} s"
    )


if __name__ == "__main__":
    main()
