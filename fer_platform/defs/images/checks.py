"""``landings_delivered``: no landing of the emotion was given up on. The sensors report it failed, naming the
blobs, when a landing run failed ``retries.MAX_TRIES`` times; it runs with every landing too (non-blocking: one
emotion's stuck blob must not stop the others), and passes again once ``fer-platform events retry-abandoned``
re-opened the events and a run landed them."""

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from fer_platform.images.landings.retries import abandoned
from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import PostgresResource


@asset_check(asset=names.LANDED_IMAGES, name=names.LANDINGS_DELIVERED, partitions_def=EMOTION_PARTITIONS)
def landings_delivered(context, postgres: PostgresResource) -> AssetCheckResult:
    """No event of the emotion is abandoned (its landing run failed for good)."""
    with postgres.connect(vector=False) as conn:
        gone = abandoned(conn, context.partition_key)
    reason = "landing run failed for good; `fer-platform events retry-abandoned` re-opens it"
    return AssetCheckResult(
        passed=not gone,
        severity=AssetCheckSeverity.ERROR,
        metadata={"abandoned": len(gone), "blobs": failures_table(dict.fromkeys(gone, reason))},
    )
