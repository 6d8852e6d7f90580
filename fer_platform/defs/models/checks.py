"""``not_worse_than_served``: the new emotion_model version against the served one on the same test split.

The check is where the comparison is made, so it is also where a version that
passes is promoted (the registry's pointer); blocking, so a worse version stops
the run before anything downstream (expression_vectors) uses it.
"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetKey, asset_check

from fer_platform.defs.models.resources import EmotionModelSettings
from fer_platform.models.faces import load_split
from fer_platform.models.lifecycle.promotion import evaluate_model, not_worse, promote
from fer_platform.models.lifecycle.registry import EMOTION_MODEL, load_version, model_registry, served_version
from fer_platform.models.model import ModelFileError
from fer_platform.orchestration import names
from fer_platform.orchestration.resources import ImagesResource, LakeResource

TEST_SPLIT = "test"


def materialized_version(context: AssetCheckExecutionContext) -> str:
    """The version the emotion_model materialization of this run registered."""
    event = context.instance.get_latest_materialization_event(AssetKey(names.EMOTION_MODEL))
    return str(event.asset_materialization.metadata["version"].value)


@asset_check(asset=names.EMOTION_MODEL, name=names.NOT_WORSE_THAN_SERVED, blocking=True)
def not_worse_than_served(
    context: AssetCheckExecutionContext,
    images: ImagesResource,
    emotion_model_settings: EmotionModelSettings,
    lake: LakeResource,
) -> AssetCheckResult:
    """Accuracy and macro-F1 on test/ no more than a point below the served version's (scored again now, on
    the same images); a version that passes is promoted."""
    registry = model_registry(lake.lake(), EMOTION_MODEL)
    device = emotion_model_settings.torch_device()
    candidate = materialized_version(context)
    model = load_version(registry, candidate, device)
    test = load_split(images.root, TEST_SPLIT, model.classes)
    scored = evaluate_model(model, test)
    served = served_version(registry, emotion_model_settings.version)
    served_score, note = None, ""
    if served is not None:
        try:
            served_score = evaluate_model(load_version(registry, served, device), test)
        except ModelFileError as exc:
            note = f"served {served} cannot be loaded ({exc}); "
    verdict = not_worse(scored, served_score)
    if verdict.passed:
        promote(registry, candidate, context.log.warning)
    metadata = {
        "candidate": candidate,
        "served": served or "none",
        "promoted": candidate if verdict.passed else "no",
        "candidate_accuracy": scored.accuracy,
        "candidate_macro_f1": scored.macro_f1,
        "test_samples": scored.samples,
    }
    if served_score is not None:
        metadata |= {"served_accuracy": served_score.accuracy, "served_macro_f1": served_score.macro_f1}
    return AssetCheckResult(passed=verdict.passed, description=note + verdict.reason, metadata=metadata)
