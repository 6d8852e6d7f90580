"""``fer-platform events``: what an operator does with the landing events the sensors could not use."""

from __future__ import annotations

import click

from fer_platform.settings import load_settings


@click.group()
def events() -> None:
    """The blob events of FER_EVENTS_QUEUE: replay the poison queue, re-open abandoned landings."""


@events.command("replay-poison")
@click.option("--limit", default=10_000, show_default=True, help="Most messages moved in one call.")
def replay_poison(limit: int) -> None:
    """Move the messages of <FER_EVENTS_QUEUE>-poison back to the queue (after fixing what set them aside):
    the sensor takes them again; an event already recorded is recorded once."""
    from fer_platform.images.landings.queue import EventQueue  # Azure SDK only for this command

    settings = load_settings()
    if not settings.events_queue:
        raise click.ClickException("FER_EVENTS_QUEUE is not set: there is no poison queue to replay")
    queue = EventQueue(settings.resolved_source_url, settings.events_queue)
    moved = queue.replay_poison(limit)
    click.echo(f"moved {moved} message(s) from {queue.name}-poison back to {queue.name}")


@events.command("retry-abandoned")
def retry_abandoned() -> None:
    """Re-open the events of landing runs given up on (landings_delivered failed): the sensor asks for a
    fresh run of each, with a fresh count of tries."""
    from fer_platform.factory import Platform  # heavy imports only for this command
    from fer_platform.images.landings.retries import reopen_abandoned
    from fer_platform.postgres.connection import connect

    with connect(Platform(load_settings()).source_dsn(), vector=False) as conn:
        reopened = reopen_abandoned(conn)
        conn.commit()
    click.echo(f"re-opened {reopened} abandoned event(s)")
