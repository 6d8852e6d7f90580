"""The two sensors of the images stage: ``new_images_sensor`` watches the image root (and, without an events
queue, pages through the Azure source container); ``landing_events_sensor`` follows FER_EVENTS_QUEUE. Two
sensors, so an outage of the queue never hides the image root. Each tick costs what arrived, and stops
listing or receiving at ``TICK_BUDGET_S``, whatever is stored."""

import json
import time

from dagster import (
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    definitions,
    sensor,
)

from fer_platform.defs.images.landing_runs import landing_runs
from fer_platform.images.changes import being_landed, folder_changes, folder_mtimes
from fer_platform.images.landings.intake import take_events
from fer_platform.images.landings.landed_paths import newest_landings
from fer_platform.images.landings.queue import EventQueue
from fer_platform.images.landings.reconcile import ListingPass, reconcile_pages
from fer_platform.images.stored_manifest import read_marks
from fer_platform.orchestration import names
from fer_platform.orchestration.loading import loading_platform
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, PostgresResource
from fer_platform.storage.location import StorageUnavailableError

SENSOR_NAME = "new_images_sensor"
EVENTS_SENSOR_NAME = "landing_events_sensor"
TICK_BUDGET_S = 10.0  # a tick lists pages or receives messages until this many seconds have passed
INTAKE_SHARE = 0.5  # of the budget, for the queue; reconciliation gets the rest


def new_partitions(context: SensorEvaluationContext, emotions: set) -> list | None:
    """The request that adds the emotions Dagster does not know yet as partitions (None when there are none)."""
    known = set(context.instance.get_dynamic_partitions(EMOTION_PARTITIONS.name))
    new = sorted(emotions - known)
    return [EMOTION_PARTITIONS.build_add_request(new)] if new else None


def page_on(context, conn, images: ImagesResource, cursor: dict, deadline: float) -> str:
    """Go on with the cursor's listing pass of the source container until it ends or ``deadline``; what it
    did, for the log. A finished pass is forgotten (the next starts from the first page)."""
    progress = ListingPass(**cursor.pop("pass", {"started_at": time.time()}))
    done = reconcile_pages(conn, images.source(), images.root, images.split, progress, deadline)
    if not done:
        cursor["pass"] = progress.dumps()
    else:
        context.log.info(
            f"listing pass done: {progress.listed} name(s) in {progress.pages} page(s) since "
            f"{time.strftime('%H:%M:%S', time.gmtime(progress.started_at))} UTC, {progress.found} found"
        )
    return f"listing pass {'done' if done else 'goes on'}: {progress.listed} listed, {progress.found} found"


def listed(context, conn, images: ImagesResource, cursor: dict, deadline: float) -> str:
    """``page_on``, except that a source container that is missing or unreachable is an error in the tick's log
    (naming it, never created here) that leaves the image root's runs to be asked for."""
    try:
        return page_on(context, conn, images, cursor, deadline)
    except StorageUnavailableError as exc:
        context.log.error(f"cannot list the source container: {exc}")
        return f"source container NOT listed: {exc}"


def in_flight_landings(context: SensorEvaluationContext, conn, images: ImagesResource, emotions) -> dict:
    """emotion -> the newest landing recorded in its folder by a run that has not finished (``being_landed``)."""
    newest = newest_landings(conn, [images.scope(emotion) for emotion in emotions])
    landings = {}
    for scope, (run_id, landed) in newest.items():
        run = context.instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            landings[scope.strip("/").split("/")[-1]] = (landed.mtime_before, landed.mtime_after)
    return landings


def find_new_images(
    context: SensorEvaluationContext, images: ImagesResource, postgres: PostgresResource
) -> SensorResult:
    """Watches FER_IMAGE_ROOT's emotion folders by their mtimes (one stat per folder, never a listing) and
    requests one pipeline run per folder changed since a run read it; adds new folders as partitions. A folder
    changed in the last FER_SETTLE_S seconds waits. Without FER_EVENTS_QUEUE and with FER_SOURCE_URL an Azure
    container, each tick also goes on with a paged listing of the container, and asks for the runs that land
    what it found."""
    start, cursor = time.monotonic(), json.loads(context.cursor or "{}")
    mtimes = folder_mtimes(images.root, images.split)
    listing, landings, alerts = "", [], []
    with postgres.connect(vector=False) as conn:
        marks = read_marks(conn, images.split)
        changes = folder_changes(mtimes, marks, images.settle_s, time.time_ns())
        changes = being_landed(changes, mtimes, marks, in_flight_landings(context, conn, images, changes.runs))
        if not images.events_queue and not images.source().is_local:
            listing = "; " + listed(context, conn, images, cursor, start + TICK_BUDGET_S)
            landings, alerts = landing_runs(context, conn, SENSOR_NAME)
    asked = cursor.get("requested", {})
    folders = [
        RunRequest(run_key=key, partition_key=emotion, tags={"fer/trigger": SENSOR_NAME})
        for emotion, key in changes.runs.items()
        if asked.get(emotion) != key
    ]
    cursor["requested"] = {e: k for e, k in (asked | changes.runs).items() if e in mtimes}
    for emotion in sorted(set(changes.vanished) - set(cursor.get("vanished", []))):  # said once, not every tick
        context.log.warning(f"folder {emotion!r} disappeared; its rows are kept until the folder returns")
    cursor["vanished"] = changes.vanished
    summary = (
        f"{len(mtimes)} folder(s) stat-ed, changed: {sorted(changes.runs) or 'none'}, "
        f"settling: {changes.settling or 'none'}{listing}; took {time.monotonic() - start:.2f} s"
    )
    context.log.info(summary)
    requests = folders + landings
    return SensorResult(
        run_requests=requests,
        asset_events=alerts,
        dynamic_partitions_requests=new_partitions(context, set(mtimes) | {r.partition_key for r in requests}),
        cursor=json.dumps(cursor, sort_keys=True),
        skip_reason=None if requests else f"no new images: {summary}",
    )


def reconcile_due(images: ImagesResource, cursor: dict, now: float) -> bool:
    """A reconciling pass goes on, or is due: never done, or done ``FER_RECONCILE_HOURS`` ago."""
    hours = images.reconcile_hours
    started = "pass" in cursor
    return started or (hours > 0 and now - float(cursor.get("reconciled_at", 0)) >= hours * 3600)


def follow_events(
    context: SensorEvaluationContext, images: ImagesResource, postgres: PostgresResource
) -> SensorResult:
    """Takes the source container's blob events from FER_EVENTS_QUEUE in batches until half the tick's budget
    is spent, records them, then requests one pipeline run per touched emotion carrying exactly its events (the
    run reads them, never the container's listing). At most every FER_RECONCILE_HOURS, a paged listing of the
    container, a bounded slice per tick, finds what events were lost."""
    if not images.events_queue:
        return SensorResult(skip_reason="FER_EVENTS_QUEUE is not set: new_images_sensor lists the source container")
    start, cursor = time.monotonic(), json.loads(context.cursor or "{}")
    queue = EventQueue(images.source_url, images.events_queue)
    queue.ensure()
    with postgres.connect(vector=False) as conn:
        intake = take_events(queue, conn, images.source().root, images.split, start + TICK_BUDGET_S * INTAKE_SHARE)
        listing = ""
        if reconcile_due(images, cursor, time.time()):
            listing = "; " + page_on(context, conn, images, cursor, start + TICK_BUDGET_S)
            if "pass" not in cursor:
                cursor["reconciled_at"] = time.time()
        requests, alerts = landing_runs(context, conn, EVENTS_SENSOR_NAME)
    for line in intake.poisoned:
        context.log.warning(f"set aside in {queue.name}-poison: {line}")
    for reason, count in intake.ignored.items():
        context.log.info(f"ignored {count} event(s): {reason}")
    summary = (
        f"{intake.received} message(s), {intake.new_events} new event(s), {len(intake.poisoned)} set aside; "
        f"poison queue {queue.name}-poison holds {queue.poison_count()}{listing}; "
        f"took {time.monotonic() - start:.2f} s"
    )
    context.log.info(summary)
    return SensorResult(
        run_requests=requests,
        asset_events=alerts,
        dynamic_partitions_requests=new_partitions(context, {r.partition_key for r in requests}),
        cursor=json.dumps(cursor, sort_keys=True),
        skip_reason=None if requests else f"no new images: {summary}",
    )


def images_sensor(name: str, interval_s: int, evaluate, running: bool = True) -> SensorDefinition:
    """A sensor of the pipeline job, ticking every ``interval_s`` (FER_SENSOR_INTERVAL_S), running by default
    when ``running``."""
    return sensor(
        name=name, job_name=names.PIPELINE_JOB, minimum_interval_seconds=interval_s,
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
    )(evaluate)


@definitions
def images_sensors() -> Definitions:
    """The sensors for the platform being loaded: interval and mode are settings, read at load, never at import.
    ``landing_events_sensor`` is always defined (one set of public names) and runs by default only with
    FER_EVENTS_QUEUE set; started by hand without it, it skips, saying why."""
    settings = loading_platform().settings
    events = settings.events_queue is not None
    return Definitions(
        sensors=[
            images_sensor(SENSOR_NAME, settings.sensor_interval_s, find_new_images),
            images_sensor(EVENTS_SENSOR_NAME, settings.sensor_interval_s, follow_events, running=events),
        ]
    )
