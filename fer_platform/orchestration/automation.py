"""When the served assets (what search serves: ``vector_index``, ``expression_vectors``) are materialized
without anyone asking, and how stale they may become: one condition and one freshness policy, shared.

The condition is evaluated by the automation sensor ``search_index_automation`` (defs/search/jobs.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from dagster import AssetSelection, AutomationCondition, DefaultScheduleStatus, FreshnessPolicy, ScheduleDefinition

from fer_platform.orchestration.loading import loading_platform

# The daily safety net (UTC): a promotion made outside Dagster (`fer-platform promote`, a FER_MODEL_VERSION
# pin) updates no asset, so nothing else would tell expression_vectors to follow the served version.
DAILY_CRON = "0 4 * * *"
CRON_TIMEZONE = "UTC"

SERVED_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))
"""A served asset is materialized at least once a day by DAILY_CRON (even when nothing changed, the run then
computes nothing and takes seconds), so its last materialization is never older than 24 h plus the run itself;
2 h of slack (1 h before warning) absorb a slow run or a sensor tick that waits for an upstream run. Older means
the automation is stopped or its runs fail: the policy makes that visible in the UI."""


def served_automation(ignore_checks_of: Sequence[str] = ()) -> AutomationCondition:
    """Materialize after an upstream change, for the changed partitions only, once upstream is checked.

    Triggered (and remembered until handled: requested or materialized) when a partition becomes missing
    (a new emotion), when a dependency's partition is materialized (an emotion's replica rows changed: that
    emotion only; an unpartitioned dependency such as a new emotion_model version: every partition) and once a
    day at DAILY_CRON. Requested only when no dependency is missing or running, the asset itself is not
    running, and every dependency partition it reads has passed its blocking checks on its latest
    materialization: a replica partition that differs from the source, or was not checked, is not served.

    That last clause is Dagster's ``all_deps_blocking_checks_passed()`` asked of every dependency partition:
    the built-in is the same for a partitioned child (expression_vectors[happy] waits for azure_replica[happy])
    but holds for a child that is not partitioned (vector_index, which reads every emotion of the replica) as
    soon as one partition of the dependency passed.

    ``ignore_checks_of`` (asset keys) names dependencies whose blocking checks do not gate: expression_vectors
    always reads the served (promoted) emotion_model, so a candidate that failed not_worse_than_served must not
    hold back new replica rows (the run it triggers computes nothing: every row already has the served
    version).
    """
    trigger = (
        AutomationCondition.newly_missing()
        | AutomationCondition.any_deps_updated()
        | AutomationCondition.cron_tick_passed(DAILY_CRON, CRON_TIMEZONE)
    ).since_last_handled()
    passed = AutomationCondition.check_passed() | AutomationCondition.will_be_requested()
    dep_not_checked = AutomationCondition.any_deps_match(
        ~AutomationCondition.all_checks_match(passed, blocking_only=True)
    )
    if ignore_checks_of:
        dep_not_checked = dep_not_checked.ignore(AssetSelection.assets(*ignore_checks_of))
    gate = (
        ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & ~dep_not_checked.with_label("any_dep_partition_not_checked")
    )
    return (trigger & gate).with_label("served")


def verification_schedule(job_name: str, description: str) -> ScheduleDefinition:
    """``<job_name>_schedule``: a verification or upkeep job at FER_VERIFY_CRON (read at load), running by default.
    Landings touch and check only what landed; these jobs read what is stored, so they run at a quiet hour."""
    return ScheduleDefinition(
        name=f"{job_name}_schedule",
        job_name=job_name,
        cron_schedule=loading_platform().settings.verify_cron,
        default_status=DefaultScheduleStatus.RUNNING,
        description=description,
    )
