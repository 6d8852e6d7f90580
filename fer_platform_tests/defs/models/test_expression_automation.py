"""The served assets' automation condition, evaluated by Dagster on the real definitions: expression_vectors
follows checked replica changes (the changed emotion only) and new emotion_model versions (every emotion).

The upstream assets are stand-ins with the same keys, partitions and blocking checks, materialized into the
instance the conditions are evaluated against, so no model is trained and no image embedded.
"""

from datetime import datetime, timedelta, timezone

import pytest
from dagster import (
    AssetCheckResult,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    asset,
    asset_check,
    define_asset_job,
    evaluate_automation_conditions,
    materialize,
)

from fer_platform.definitions import build_definitions
from fer_platform.orchestration import names
from fer_platform.orchestration.automation import DAILY_CRON
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS, register_emotions
from fer_platform.settings import load_settings
from fer_platform_tests.support.constants import TEST_EMOTIONS

EXPRESSION = AssetKey(names.EXPRESSION_VECTORS)
INDEX = AssetKey(names.VECTOR_INDEX)
CHECKS_PASS = {names.AZURE_REPLICA: True, names.EMOTION_MODEL: True}


@asset(name=names.AZURE_REPLICA, partitions_def=EMOTION_PARTITIONS)
def replica_stand_in() -> None:
    """Stands for azure_replica: the rows of one emotion changed."""


@asset(name=names.EMOTION_MODEL)
def model_stand_in() -> None:
    """Stands for emotion_model: a new version was registered."""


def blocking_checks_like(defs: Definitions, key: str, partitioned: bool) -> list:
    """A stand-in for every blocking check of ``key`` in the real definitions, passing as CHECKS_PASS says."""
    graph = defs.resolve_asset_graph()
    blocking = [c for c in graph.get(AssetKey(key)).check_keys if graph.get(c).blocking]
    assert blocking, f"{key} has no blocking check"

    def stand_in(name: str):
        @asset_check(asset=key, name=name, blocking=True, partitions_def=EMOTION_PARTITIONS if partitioned else None)
        def check() -> AssetCheckResult:
            return AssetCheckResult(passed=CHECKS_PASS[key])

        return check

    return [stand_in(c.name) for c in blocking]


class Platform:
    """The real definitions' conditions, ticked one evaluation at a time against stand-in upstream runs."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance
        self.defs = build_definitions(load_settings())
        self.replica_checks = blocking_checks_like(self.defs, names.AZURE_REPLICA, partitioned=True)
        self.model_checks = blocking_checks_like(self.defs, names.EMOTION_MODEL, partitioned=False)
        self.cursor = None
        register_emotions(instance, list(TEST_EMOTIONS))

    def replica(self, emotion: str, checks_pass: bool | None = True) -> None:
        """azure_replica[emotion] materialized, its blocking checks passing, failing, or not run (None)."""
        CHECKS_PASS[names.AZURE_REPLICA] = bool(checks_pass)
        checks = [] if checks_pass is None else self.replica_checks
        run = materialize(
            [replica_stand_in, *checks], partition_key=emotion, instance=self.instance, raise_on_error=False
        )
        assert run.success is (checks_pass is not False)  # a failed blocking check fails the run

    def recheck(self, emotion: str) -> None:
        """azure_replica[emotion]'s blocking checks run again, passing, on the same materialization."""
        CHECKS_PASS[names.AZURE_REPLICA] = True
        job = define_asset_job(
            "recheck", selection=AssetSelection.checks(*self.replica_checks), partitions_def=EMOTION_PARTITIONS
        )
        defs = Definitions(assets=[replica_stand_in], asset_checks=self.replica_checks, jobs=[job])
        run = defs.resolve_job_def("recheck").execute_in_process(
            instance=self.instance, tags={"dagster/partition": emotion}
        )
        assert run.success and not run.get_asset_materialization_events()

    def model(self, checks_pass: bool = True) -> None:
        CHECKS_PASS[names.EMOTION_MODEL] = checks_pass
        run = materialize([model_stand_in, *self.model_checks], instance=self.instance, raise_on_error=False)
        assert run.success is checks_pass

    def tick(self, at: datetime | None = None) -> dict[AssetKey, set]:
        """One evaluation of the sensor: the requested partitions of the served assets."""
        result = evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=at
        )
        self.cursor = result.cursor
        return {key: set(result.get_requested_partitions(key)) for key in (EXPRESSION, INDEX)}


@pytest.fixture
def platform(fer_env):
    with DagsterInstance.ephemeral() as instance:
        yield Platform(instance)
    CHECKS_PASS.update({names.AZURE_REPLICA: True, names.EMOTION_MODEL: True})


def loaded(platform: Platform) -> None:
    """Every emotion replicated and a model trained, all checks passing, and the resulting requests handled."""
    assert platform.tick() == {EXPRESSION: set(), INDEX: set()}  # first evaluation: nothing is there yet
    for emotion in TEST_EMOTIONS:
        platform.replica(emotion)
    platform.model()
    assert platform.tick() == {EXPRESSION: set(TEST_EMOTIONS), INDEX: {None}}
    assert platform.tick() == {EXPRESSION: set(), INDEX: set()}  # requested once, not again


def test_checked_replica_changes_request_their_emotion_and_a_new_model_every_emotion(platform) -> None:
    loaded(platform)
    platform.replica("happy")
    assert platform.tick() == {EXPRESSION: {"happy"}, INDEX: {None}}
    assert platform.tick() == {EXPRESSION: set(), INDEX: set()}  # handled (a request ends the trigger)
    platform.replica("happy", checks_pass=False)
    assert platform.tick() == {EXPRESSION: set(), INDEX: set()}
    assert platform.tick() == {EXPRESSION: set(), INDEX: set()}  # waits while the replica differs
    platform.replica("happy", checks_pass=None)
    assert platform.tick() == {EXPRESSION: set(), INDEX: set()}  # and while it is not checked
    platform.recheck("happy")
    assert platform.tick() == {EXPRESSION: {"happy"}, INDEX: {None}}  # the change was remembered until checked
    assert platform.tick() == {EXPRESSION: set(), INDEX: set()}
    platform.model()
    assert platform.tick() == {EXPRESSION: set(TEST_EMOTIONS), INDEX: set()}


def test_a_candidate_that_failed_its_check_does_not_hold_back_replica_changes(platform) -> None:
    loaded(platform)
    platform.model(checks_pass=False)
    assert platform.tick()[EXPRESSION] == set(TEST_EMOTIONS)  # runs with the served version: nothing to do
    assert platform.tick() == {EXPRESSION: set(), INDEX: set()}
    platform.replica("sad")
    assert platform.tick() == {EXPRESSION: {"sad"}, INDEX: {None}}


def test_a_failed_replica_check_holds_back_the_index_whatever_the_other_emotions(platform) -> None:
    """vector_index depends on every emotion of the replica: one that differs from the source stops it."""
    loaded(platform)
    platform.replica("angry", checks_pass=False)
    platform.replica("sad")
    assert platform.tick() == {EXPRESSION: {"sad"}, INDEX: set()}


def test_the_daily_cron_requests_everything_once(platform) -> None:
    """The safety net for promotions made outside Dagster: after DAILY_CRON's tick every partition runs."""
    loaded(platform)
    assert DAILY_CRON == "0 4 * * *"
    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert platform.tick(day + timedelta(hours=5)) == {EXPRESSION: set(TEST_EMOTIONS), INDEX: {None}}
    day += timedelta(days=1)
    assert platform.tick(day + timedelta(hours=3, minutes=59)) == {EXPRESSION: set(), INDEX: set()}
    assert platform.tick(day + timedelta(hours=4, minutes=1)) == {EXPRESSION: set(TEST_EMOTIONS), INDEX: {None}}
    assert platform.tick(day + timedelta(hours=4, minutes=2)) == {EXPRESSION: set(), INDEX: set()}
