"""The ``fer-platform`` command: sample data, the main job on embedded defaults, search, serve, models.

An error ends a command with one line on standard error and a non-zero exit status; ``--verbose`` (before the
command) shows the traceback too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from fer_platform.events_cli import events
from fer_platform.sample_data import write_sample_dataset
from fer_platform.settings import load_settings


class OneLineErrors(click.Group):
    """Turns an unexpected error of any command into one clear line (``click.ClickException``), unless the
    group's ``--verbose`` asks for the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("verbose"):
                raise
            from fer_platform.postgres.connection import error_line

            raise click.ClickException(f"{error_line(exc)} (fer-platform --verbose ... shows the traceback)") from exc


@click.group(cls=OneLineErrors)
@click.version_option(package_name="fer_platform", prog_name="fer-platform")
@click.option("--verbose", is_flag=True, help="Show the traceback of an error, not just its first line.")
def main(verbose: bool) -> None:
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
@click.option("--verbose", is_flag=True, help="Print Dagster's full event stream instead of progress bars.")
def demo(per_class: int, verbose: bool) -> None:
    """Run the main job (fer_pipeline: every stage, every emotion) on the configured or embedded defaults."""
    from fer_platform.demo import run_demo  # heavy imports (torch, dagster) only for this command

    run_demo(load_settings(), per_class, weights_explicit="FER_WEIGHTS" in os.environ, verbose=verbose)


@main.command()
@click.option("--jobs", default=0, show_default=True, help="Parallel pg_dump/pg_restore jobs (0 = CPU count).")
def migrate(jobs: int) -> None:
    """Initial migration: pg_dump the source imagenes_fer and pg_restore it into the replica."""
    from fer_platform.factory import Platform  # heavy imports only for this command
    from fer_platform.replica.migrate import migrate as dump_restore
    from fer_platform.table.schema import DEFAULT_TABLE

    platform = Platform(load_settings())
    result = dump_restore(platform.source_dsn(), platform.replica_dsn(), DEFAULT_TABLE, jobs or None)
    click.echo(
        f"migrated {result.rows} rows: pg_dump {result.dump_s:.1f} s ({result.dump_bytes / 1e6:.1f} MB), "
        f"pg_restore {result.restore_s:.1f} s"
    )


K_OPTION = click.option("-k", default=5, show_default=True, type=click.IntRange(1, 100), help="How many images.")
EMOTION_OPTION = click.option("--emotion", default=None, help="Only images of this emotion.")
SPACE_OPTION = click.option(
    "--space", type=click.Choice(["seed", "expression"]), default="seed", show_default=True,
    help="seed: the seed's ResNet18 vectors (same look); expression: the promoted emotion_model's (same expression).",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer instead of a table.")


def print_answer(answer, as_json: bool) -> None:
    """The answer as ``POST /search`` would give it (``--json``), or one line per image."""
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
        return
    if answer.face is not None:
        click.echo(f"face: {answer.face}")
    for rank, r in enumerate(answer.results, 1):
        click.echo(f"{rank:>3}  {r.distance:.6f}  {r.emotion:<12} {r.id:>8}  {r.filepath}")


def searched(query):
    """Runs ``query(engine)`` on a search engine over the configured replica; its errors become one line."""
    from fer_platform.service.engine import (  # heavy imports only for these commands
        SearchEngine,
        SpaceUnavailableError,
        StoredImageNotFoundError,
        UnknownEmotionError,
    )

    engine = SearchEngine(load_settings())
    try:
        if problem := engine.serving_problem():
            raise click.ClickException(problem)
        return query(engine)
    except (SpaceUnavailableError, StoredImageNotFoundError, UnknownEmotionError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.close()


@main.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@K_OPTION
@EMOTION_OPTION
@SPACE_OPTION
@JSON_OPTION
def search(image: Path, k: int, emotion: str | None, space: str, as_json: bool) -> None:
    """Print the K stored images most similar to IMAGE (searched on the replica's HNSW indexes)."""
    from fer_platform.images.decode import ImageDecodeError
    from fer_platform.service.schemas import search_answer

    def query(engine):
        valid = engine.valid_emotion(emotion)
        try:
            expression = space == "expression"
            face = engine.embed(image.read_bytes(), with_seed=not expression, with_expression=expression)
        except ImageDecodeError as exc:
            raise click.ClickException(f"{image} is not a usable image: {exc}") from exc
        if space == "expression":
            return search_answer(engine.expression_search(face, k, valid), space, face=face.crop.method)
        return search_answer(engine.search(face.vector, k, valid), space, face=face.crop.method)

    print_answer(searched(query), as_json)


@main.command()
@click.argument("image_id", metavar="ID", type=click.IntRange(1, 2**63 - 1))
@K_OPTION
@EMOTION_OPTION
@SPACE_OPTION
@JSON_OPTION
def similar(image_id: int, k: int, emotion: str | None, space: str, as_json: bool) -> None:
    """Print the K stored images most similar to stored image ID (a result's id), itself left out."""
    from fer_platform.service.schemas import search_answer

    answer = searched(
        lambda engine: search_answer(
            engine.similar(image_id, space, k, engine.valid_emotion(emotion)), space, query_id=image_id
        )
    )
    print_answer(answer, as_json)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--wait", is_flag=True, help="Start even if the replica cannot serve yet (/healthz says why: 503).")
def serve(host: str, port: int, wait: bool) -> None:
    """Serve the search API and page (needs FER_API_KEY and a replica with imagenes_fer rows)."""
    import uvicorn  # heavy imports only for this command

    from fer_platform.models.lifecycle.registry import ModelNotFoundError
    from fer_platform.service.app import ApiKeyMissingError, create_app
    from fer_platform.service.http import header_timeout_protocol
    from fer_platform.service.readiness import ServiceNotReadyError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    try:
        app = create_app(settings, wait=wait)
    except (ApiKeyMissingError, ModelNotFoundError, ServiceNotReadyError) as exc:
        raise click.ClickException(str(exc)) from exc
    uvicorn.run(app, host=host, port=port, log_level="info", http=header_timeout_protocol(settings.header_timeout_s))


MODEL_NAMES = ("emotion_model", "emotion_classifier")
model_option = click.option(
    "--model", "name", type=click.Choice(MODEL_NAMES), default="emotion_model", show_default=True,
    help="Which registered model.",
)


def model_registry(name: str):
    """The registry of model ``name`` in the configured lake."""
    from fer_platform.factory import Platform  # heavy imports only for these commands

    return Platform(load_settings()).model_registry(name)


@main.command()
@model_option
def models(name: str) -> None:
    """List the registered versions of a model, their test metrics, which one is promoted and which is the
    champion (the best promoted so far, what a new version must not be worse than)."""
    registry = model_registry(name)
    promoted, champion = registry.promoted(), registry.champion()
    click.echo(f"{'version':<9} {'accuracy':>8} {'macro_f1':>8} {'epochs':>6}  stopped_by      arch")
    for version in registry.versions():
        m = registry.metrics(version)
        mark = ("  <- promoted" if version == promoted else "") + ("  (champion)" if version == champion else "")
        macro_f1 = f"{m['macro_f1']:>8.3f}" if "macro_f1" in m else f"{'-':>8}"
        recipe = m.get("recipe", {}).get("arch", "mlp head")
        click.echo(
            f"{version:<9} {m['accuracy']:>8.3f} {macro_f1} {m.get('epochs', '-'):>6}  "
            f"{m.get('stopped_by', '-'):<15} {recipe}{mark}"
        )


@main.command()
@click.argument("version")
@model_option
def promote(version: str, name: str) -> None:
    """Serve VERSION of a model (also how to roll back): running services switch within seconds."""
    from fer_platform.models.lifecycle.promotion import promote as promote_version  # heavy: only for this command

    promote_version(model_registry(name), version, lambda line: click.echo(line, err=True))
    click.echo(f"promoted {name} {version}")


main.add_command(events)

if __name__ == "__main__":
    main()
