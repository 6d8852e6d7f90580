"""The new-images sensor: re-embed (and carry to the replica and the lake) only the emotions that changed."""

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

from fer_platform.images.changes import (
    FolderScan,
    SensorCursor,
    detect_changes,
    landed_blobs,
    merge_blob_only,
    scan_local,
)
from fer_platform.images.landings.event_log import open_runs
from fer_platform.images.landings.intake import reconcile, take_events
from fer_platform.images.landings.queue import EventQueue
from fer_platform.orchestration import names
from fer_platform.orchestration.loading import loading_platform
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, PostgresResource

SENSOR_NAME = "new_images_sensor"


def scan_sources(images: ImagesResource) -> dict[str, FolderScan]:
    """The image root's emotion folders, plus what landed only in an Azure source container."""
    scans = scan_local(images.root, images.split, images.settle_s, time.time())
    source = images.source()
    if source.is_local:
        return scans
    source.ensure()  # raises when the account is unreachable; creates a container nothing was sent to yet
    return merge_blob_only(scans, landed_blobs(source.listing(f"{images.split}/"), images.split))


def run_request(emotion: str, seq: int, digest: str) -> RunRequest:
    """One run per emotion per change batch; the key makes a repeated evaluation request nothing twice."""
    return RunRequest(
        run_key=f"{emotion}@{seq}:{digest[:16]}",
        partition_key=emotion,
        tags={"fer/trigger": SENSOR_NAME},
    )


def new_images_sensor(interval_s: int, events: bool) -> SensorDefinition:
    """The sensor, ticking every ``interval_s`` seconds (FER_SENSOR_INTERVAL_S, given when the definitions are
    built, so that custom settings reach it): following the events queue when ``events`` (FER_EVENTS_QUEUE),
    else listing."""
    return sensor(
        name=SENSOR_NAME,
        job_name=names.PIPELINE_JOB,
        minimum_interval_seconds=interval_s,
        default_status=DefaultSensorStatus.RUNNING,
    )(follow_events if events else find_new_images)


def reconcile_due(images: ImagesResource, cursor: dict, now: float) -> bool:
    """A reconciling listing is due: never done by this sensor, or done ``FER_RECONCILE_HOURS`` ago."""
    hours = images.reconcile_hours
    return hours > 0 and now - float(cursor.get("reconciled_at", 0)) >= hours * 3600


def take(context: SensorEvaluationContext, images: ImagesResource, postgres: PostgresResource, now: float):
    """The tick's events (and the reconciling listing when due); logs what was ignored and set aside."""
    cursor = json.loads(context.cursor or "{}")
    queue = EventQueue(images.source_url, str(images.events_queue))
    queue.ensure()
    source = images.source()
    with postgres.connect(vector=False) as conn:
        intake = take_events(queue, conn, source.root, images.split)
        if reconcile_due(images, cursor, now):
            found = reconcile(conn, source, images.root, images.split)
            context.log.info(f"reconciliation: {found} image(s) only the listing found (their events were lost)")
            cursor["reconciled_at"] = now
            intake.runs = open_runs(conn)
    for line in intake.poisoned:
        context.log.warning(f"set aside in {queue.name}-poison: {line}")
    for reason, count in intake.ignored.items():
        context.log.info(f"ignored {count} event(s): {reason}")
    poison = queue.poison_count()
    summary = (
        f"{intake.received} message(s), {intake.new_events} new event(s), {len(intake.poisoned)} set aside; "
        f"poison queue {queue.name}-poison holds {poison}"
    )
    return intake, cursor.get("reconciled_at"), summary


def follow_events(
    context: SensorEvaluationContext, images: ImagesResource, postgres: PostgresResource
) -> SensorResult:
    """Takes the source container's blob events from FER_EVENTS_QUEUE (``images.intake``): records them, then
    requests one pipeline run per touched emotion carrying exactly its events (the run reads them, never the
    container's listing); at most every FER_RECONCILE_HOURS, a listing finds what events were lost. The image
    root's folders are still watched as without events (local stats, no reads, no container listing)."""
    start = time.time()
    changes = detect_changes(
        SensorCursor.loads(context.cursor), scan_local(images.root, images.split, images.settle_s, start)
    )
    intake, reconciled_at, summary = take(context, images, postgres, start)
    context.log.info(f"{summary}; image root changed: {changes.changed or 'none'}; took {time.time() - start:.2f} s")
    requests = [
        RunRequest(run_key=key, partition_key=emotion, tags={"fer/trigger": SENSOR_NAME, names.LANDING_RUN_TAG: key})
        for key, emotion in intake.runs.items()
    ] + [run_request(e, changes.cursor.seq, changes.cursor.digests[e]) for e in changes.changed]
    cursor = json.loads(changes.cursor.dumps()) | ({"reconciled_at": reconciled_at} if reconciled_at else {})
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=new_partitions(context, {r.partition_key for r in requests}),
        cursor=json.dumps(cursor, sort_keys=True),
        skip_reason=None if requests else f"no new images: {summary}",
    )


def new_partitions(context: SensorEvaluationContext, emotions: set) -> list | None:
    """The request that adds the emotions Dagster does not know yet as partitions (None when there are none)."""
    known = set(context.instance.get_dynamic_partitions(EMOTION_PARTITIONS.name))
    new = sorted(emotions - known)
    return [EMOTION_PARTITIONS.build_add_request(new)] if new else None


def find_new_images(context: SensorEvaluationContext, images: ImagesResource) -> SensorResult:
    """Watches FER_IMAGE_ROOT (and FER_SOURCE_URL when it is an Azure container) for new, changed and
    removed images; requests one pipeline run per changed emotion and adds new emotion folders as
    partitions. Folders with a file modified in the last FER_SETTLE_S seconds wait for a later tick.
    """
    start = time.perf_counter()
    scans = scan_sources(images)
    changes = detect_changes(SensorCursor.loads(context.cursor), scans)
    files = sum(scan.files for scan in scans.values())
    context.log.info(
        f"scanned {files} files in {len(scans)} folders in {time.perf_counter() - start:.2f} s; "
        f"changed: {changes.changed or 'none'}; settling: {changes.settling or 'none'}"
    )
    for emotion in changes.vanished:
        context.log.warning(f"folder {emotion!r} disappeared; its rows are kept until the folder returns")
    seq = changes.cursor.seq
    return SensorResult(
        run_requests=[run_request(e, seq, changes.cursor.digests[e]) for e in changes.changed],
        dynamic_partitions_requests=new_partitions(context, set(scans)),
        cursor=changes.cursor.dumps(),
        skip_reason=None if changes.changed else f"no new, changed or removed images among {files} files",
    )


@definitions
def images_sensors() -> Definitions:
    """The sensor for the platform being loaded: its interval and mode are settings, read at load, never at import."""
    settings = loading_platform().settings
    return Definitions(sensors=[new_images_sensor(settings.sensor_interval_s, settings.events_queue is not None)])
