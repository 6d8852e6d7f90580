"""The runs that land recorded blob events: requested by either sensor, followed up when they fail for good."""

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
)

from fer_platform.images.landings.event_log import open_runs
from fer_platform.images.landings.retries import MAX_TRIES, Abandoned, retry_failed
from fer_platform.orchestration import names
from fer_platform.orchestration.metadata import failures_table

RUN_KEY_TAG = "dagster/run_key"  # the tag Dagster gives a run a sensor requested with a run key
GIVEN_UP = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def failed_keys(context: SensorEvaluationContext, keys: list[str]) -> list[str]:
    """The keys whose run ended failed or canceled (its retries, if any, spent): one lookup per open key."""
    failed = []
    for key in keys:
        runs = context.instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: key}), limit=1)
        if runs and runs[0].status in GIVEN_UP:
            failed.append(key)
    return failed


def alert(gone: Abandoned) -> AssetCheckEvaluation:
    """The failed ``landings_delivered`` check that names the blobs of an abandoned landing."""
    return AssetCheckEvaluation(
        asset_key=AssetKey(names.LANDED_IMAGES),
        check_name=names.LANDINGS_DELIVERED,
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description=f"landing run {gone.run_key} failed {MAX_TRIES} times: {len(gone.filepaths)} blob(s) not landed",
        partition=gone.emotion,
        metadata={"run_key": gone.run_key, "blobs": failures_table(dict.fromkeys(gone.filepaths, "not landed"))},
    )


def landing_runs(
    context: SensorEvaluationContext, conn, trigger: str
) -> tuple[list[RunRequest], list[AssetCheckEvaluation]]:
    """One request per open set of events (tagged with its key, which the run reads its events by), after the
    sets whose run failed were re-keyed for a later try or abandoned; the alerts for those abandoned."""
    alerts = []
    for key in failed_keys(context, list(open_runs(conn))):
        gone = retry_failed(conn, key)
        conn.commit()
        if gone is not None:
            context.log.error(
                f"gave up landing {len(gone.filepaths)} blob(s) of {gone.emotion!r} after {MAX_TRIES} failed runs "
                f"({gone.run_key}): {', '.join(gone.filepaths[:20])}; `fer-platform events retry-abandoned` "
                f"re-opens them"
            )
            alerts.append(alert(gone))
    requests = [
        RunRequest(run_key=key, partition_key=emotion, tags={"fer/trigger": trigger, names.LANDING_RUN_TAG: key})
        for key, emotion in open_runs(conn).items()
    ]
    return requests, alerts
