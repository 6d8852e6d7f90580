"""``verify_images``: every file of the image root read again and compared with the stored manifest.

``raw_images`` reads only the files whose stat fingerprint changed; this job is the check on that shortcut, run
on a schedule (FER_VERIFY_CRON, daily by default) and from the UI. It reads one emotion folder at a time, so its
memory follows the largest folder, not the collection. A file whose content changed under an unchanged
fingerprint fails the run, named, and its stored row is dropped, so the next ``raw_images`` run reads it again;
the folder's mark is dropped too, so ``new_images_sensor`` asks for that run (an in-place rewrite leaves the
folder's mtime as it was).
"""

from dagster import Failure, MetadataValue, OpExecutionContext, job, op

from fer_platform.images.folders import discover_emotions
from fer_platform.images.listing import FINGERPRINT
from fer_platform.images.scan import drifted, scan_folder
from fer_platform.images.stored_manifest import forget, read_manifest, unmark
from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table
from fer_platform.orchestration.resources import ImagesResource, PostgresResource, RayResource


def verify_folder(images: ImagesResource, postgres: PostgresResource, ray: RayResource, emotion: str) -> tuple:
    """(files read, drifted files, files whose change no scan has stored yet) of one emotion folder."""
    scope = images.scope(emotion)
    with postgres.connect(vector=False) as conn:
        stored = read_manifest(conn, scope)
    with images.describing(emotion, ray) as (describe, _):
        found = scan_folder(images.root, images.split, emotion, describe)
    drift = drifted(stored, found)
    pending = len(found.join(stored, on=["filepath", *FINGERPRINT], how="anti"))
    if drift or pending:  # files a run must read again, in a folder whose mtime may not have changed
        with postgres.connect(vector=False) as conn:
            forget(conn, scope, drift)
            unmark(conn, scope)
    return len(found), drift, pending


@op(name="verify_image_hashes")
def verify_image_hashes(
    context: OpExecutionContext, images: ImagesResource, postgres: PostgresResource, ray: RayResource
) -> None:
    """Re-read every image of the split and fail, naming them, on files that changed without a new fingerprint."""
    files, pending, drift = 0, 0, {}
    for emotion in discover_emotions(images.root, images.split):
        read, found, waiting = verify_folder(images, postgres, ray, emotion)
        files, pending = files + read, pending + waiting
        drift.update(found)
        context.log.info(f"{emotion}: {read} file(s) read, {len(found)} drifted, {waiting} not scanned yet")
    metadata = {"files_read": files, "drifted": len(drift), "not_scanned_yet": pending}
    if drift:
        raise Failure(
            description=f"{len(drift)} image(s) changed without a change of size, mtime or inode, so raw_images "
            f"did not read them again: {', '.join(list(drift)[:10])}; their manifest rows were dropped, "
            f"re-run {names.PIPELINE_JOB} for their emotions",
            metadata=metadata | {"drifted_files": failures_table(drift)},
        )
    context.add_output_metadata(metadata | {"drifted_files": MetadataValue.md("none")})


@job(name=names.VERIFY_IMAGES_JOB, description="Re-read every image and compare it with the stored manifest.")
def verify_images() -> None:
    verify_image_hashes()
