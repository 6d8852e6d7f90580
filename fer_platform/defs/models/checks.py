"""``not_worse_than_served``: the new emotion_model version against the champion (the best version promoted so
far) on the validation slice of train/ that no version trained on; test/ is only reported.

The check is where the comparison is made, so it is also where a version that
passes is promoted (the registry's pointer); blocking, so a worse version stops
the run before anything downstream (expression_vectors) uses it.
"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetKey, asset_check

from fer_platform.defs.models.resources import EmotionModelSettings
from fer_platform.models.evaluation import Evaluation
from fer_platform.models.faces import FaceSet, load_split, validation_split
from fer_platform.models.lifecycle.promotion import (
    Verdict,
    above_floor,
    champion_after,
    evaluate_model,
    not_worse,
    promote,
)
from fer_platform.models.lifecycle.registry import EMOTION_MODEL, ModelRegistry, load_version, model_registry
from fer_platform.models.model import EmotionModel, ModelFileError
from fer_platform.orchestration import names
from fer_platform.orchestration.resources import ImagesResource, LakeResource

TRAIN_SPLIT, TEST_SPLIT = "train", "test"


def materialized_version(context: AssetCheckExecutionContext) -> str:
    """The version the emotion_model materialization of this run registered."""
    event = context.instance.get_latest_materialization_event(AssetKey(names.EMOTION_MODEL))
    return str(event.asset_materialization.metadata["version"].value)


def validation_faces(images: ImagesResource, model: EmotionModel, fraction: float) -> FaceSet:
    """The faces of train/ that training held out for validation (``faces.validation_split``), in the model's
    label order: the same for every version, so a candidate and the champion are scored on the same faces."""
    train = load_split(images.root, TRAIN_SPLIT, model.classes)
    return train.subset(validation_split(train, fraction)[1])


def champion_score(
    registry: ModelRegistry, validation: FaceSet, settings: EmotionModelSettings
) -> tuple[str | None, Evaluation | None, str]:
    """(the champion, its score on ``validation`` now, a note when it cannot be loaded)."""
    champion = registry.champion()
    if champion is None:
        return None, None, ""
    try:
        return champion, evaluate_model(load_version(registry, champion, settings.torch_device()), validation), ""
    except ModelFileError as exc:
        return champion, None, f"champion {champion} cannot be loaded ({exc}); "


@asset_check(asset=names.EMOTION_MODEL, name=names.NOT_WORSE_THAN_SERVED, blocking=True)
def not_worse_than_served(
    context: AssetCheckExecutionContext,
    images: ImagesResource,
    emotion_model_settings: EmotionModelSettings,
    lake: LakeResource,
) -> AssetCheckResult:
    """Accuracy and macro-F1 on the validation slice of train/ no more than a point below the champion's (the
    best version promoted so far, scored again now on the same faces); a version that passes is promoted, and
    becomes the champion when it beats it. test/ accuracy is reported, never used to choose; with
    FER_MIN_ACCURACY_DEDUPLICATED set, a version below that floor on the deduplicated test faces is held back."""
    registry = model_registry(lake.lake(), EMOTION_MODEL)
    candidate = materialized_version(context)
    model = load_version(registry, candidate, emotion_model_settings.torch_device())
    validation = validation_faces(images, model, emotion_model_settings.recipe().validation_fraction)
    scored = evaluate_model(model, validation)
    champion, best, note = champion_score(registry, validation, emotion_model_settings)
    unseen = registry.metrics(candidate).get("accuracy_deduplicated")
    verdict = not_worse(scored, best)
    floor = above_floor(unseen, emotion_model_settings.min_accuracy_deduplicated)
    reason = verdict.reason + (floor.reason if floor.passed else "; " + floor.reason)
    verdict = Verdict(verdict.passed and floor.passed, reason)
    if verdict.passed:
        promote(registry, candidate, context.log.warning, champion_after(candidate, champion, scored, best))
    test = load_split(images.root, TEST_SPLIT, model.classes)
    metadata = {
        "candidate": candidate,
        "champion": champion or "none",
        "promoted": candidate if verdict.passed else "no",
        "candidate_validation_accuracy": scored.accuracy,
        "candidate_validation_macro_f1": scored.macro_f1,
        "validation_samples": scored.samples,
        "candidate_test_accuracy": evaluate_model(model, test).accuracy if test.files else None,
        "candidate_accuracy_deduplicated": unseen,
        "min_accuracy_deduplicated": emotion_model_settings.min_accuracy_deduplicated,
    }
    if best is not None:
        metadata |= {"champion_validation_accuracy": best.accuracy, "champion_validation_macro_f1": best.macro_f1}
    return AssetCheckResult(passed=verdict.passed, description=note + verdict.reason, metadata=metadata)
