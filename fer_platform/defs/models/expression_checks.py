"""``expression_vectors_complete``: one expression vector per stored image of the emotion, all of the served
emotion_model version.

Blocking and partitioned like the replica's checks: what search serves from imagenes_fer_expression must
cover the replica's rows of the emotion, with vectors of one model only (vectors of two models are not
comparable), and a partition that does not must not look materialized and fine.
"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, asset_check

from fer_platform.defs.models.resources import EmotionModelSettings
from fer_platform.models.lifecycle.registry import EMOTION_MODEL, model_registry, served_version
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import LakeResource, PostgresResource
from fer_platform.table.expression import ExpressionCoverage, expression_coverage
from fer_platform.table.schema import DEFAULT_TABLE


def coverage_metadata(coverage: ExpressionCoverage, version: str) -> dict:
    """The counts, the served version and a few paths of each fault, as the UI shows them."""

    def paths(examples: tuple[str, ...]) -> MetadataValue:
        return MetadataValue.json(list(examples))

    return {
        "replica_rows": coverage.replica_rows,
        "vectors": coverage.vectors,
        "missing": coverage.missing,
        "extra": coverage.extra,
        "not_served_version": coverage.not_served_version,
        "served_version": version,
        "missing_examples": paths(coverage.missing_examples),
        "extra_examples": paths(coverage.extra_examples),
        "not_served_examples": paths(coverage.not_served_examples),
    }


@asset_check(
    asset=names.EXPRESSION_VECTORS,
    name=names.EXPRESSION_VECTORS_COMPLETE,
    blocking=True,
    partitions_def=EMOTION_PARTITIONS,
)
def expression_vectors_complete(
    context: AssetCheckExecutionContext,
    replica: PostgresResource,
    emotion_model_settings: EmotionModelSettings,
    lake: LakeResource,
) -> AssetCheckResult:
    """The replica's imagenes_fer file paths of the emotion == its imagenes_fer_expression file paths, every
    row of the served emotion_model version (the promoted one, or FER_MODEL_VERSION)."""
    emotion = context.partition_key
    version = served_version(model_registry(lake.lake(), EMOTION_MODEL), emotion_model_settings.version)
    if version is None:
        return AssetCheckResult(passed=False, description="no emotion_model version is served")
    with replica.connect(vector=False) as conn:
        coverage = expression_coverage(conn, emotion, version, DEFAULT_TABLE)
    faults = f"{coverage.missing} missing, {coverage.extra} extra, {coverage.not_served_version} of another version"
    return AssetCheckResult(
        passed=coverage.complete,
        description=f"{emotion}: {coverage.vectors} vectors for {coverage.replica_rows} stored images ({faults})",
        metadata=coverage_metadata(coverage, version),
    )
