"""The new-images sensor: re-embed (and carry to the replica and the lake) only the emotions that changed."""

import time

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
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
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImageFolderResource

SENSOR_NAME = "new_images_sensor"


def scan_sources(images: ImageFolderResource) -> dict[str, FolderScan]:
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


def new_images_sensor(interval_s: int) -> SensorDefinition:
    """The sensor, ticking every ``interval_s`` seconds (FER_SENSOR_INTERVAL_S, given when the definitions are
    built, so that custom settings reach it)."""
    return sensor(
        name=SENSOR_NAME,
        job_name=names.PIPELINE_JOB,
        minimum_interval_seconds=interval_s,
        default_status=DefaultSensorStatus.RUNNING,
    )(find_new_images)


def find_new_images(context: SensorEvaluationContext, images: ImageFolderResource) -> SensorResult:
    """Watches FER_IMAGE_ROOT (and FER_SOURCE_URL when it is an Azure container) for new, changed and
    removed images; requests one pipeline run per changed emotion and adds new emotion folders as
    partitions. Folders with a file modified in the last FER_SETTLE_S seconds wait for a later tick.
    """
    start = time.perf_counter()
    scans = scan_sources(images)
    changes = detect_changes(SensorCursor.loads(context.cursor), scans)
    known = set(context.instance.get_dynamic_partitions(EMOTION_PARTITIONS.name))
    new_partitions = [e for e in sorted(scans) if e not in known]
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
        dynamic_partitions_requests=[EMOTION_PARTITIONS.build_add_request(new_partitions)] if new_partitions else None,
        cursor=changes.cursor.dumps(),
        skip_reason=None if changes.changed else f"no new, changed or removed images among {files} files",
    )
