"""``emotion_model``: a CNN trained end to end on the ``train/`` images, scored on ``test/``, registered as the
next version in the lake. The ``not_worse_than_served`` check decides whether it is promoted."""

import io
from pathlib import Path

import polars as pl
import torch
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from fer_platform.defs.models.metadata import evaluation_metadata, learning_curve_plot
from fer_platform.defs.models.resources import EmotionModelSettings
from fer_platform.lake.layout import LABEL_ISSUES_PATH, model_prefix
from fer_platform.models.evaluation import Evaluation, confusion_image
from fer_platform.models.faces import FaceSet, load_split, require_trainable
from fer_platform.models.lifecycle.card import model_card, training_metrics
from fer_platform.models.lifecycle.promotion import evaluate_model
from fer_platform.models.lifecycle.registry import (
    EMOTION_CLASSIFIER,
    EMOTION_MODEL,
    model_registry,
    register_emotion_model,
    served_version,
)
from fer_platform.models.lifecycle.tracking import track_training
from fer_platform.models.on_ray import train_on_ray
from fer_platform.models.quality.label_issues import without_issues
from fer_platform.models.quality.overlap import find_overlap, without_overlap
from fer_platform.models.training.checkpoints import Checkpoints
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import Trained, train_model
from fer_platform.orchestration import names
from fer_platform.orchestration.resources import ImagesResource, LakeResource, RayResource
from fer_platform.progress import Progress
from fer_platform.storage.location import Location

TRAIN_SPLIT, TEST_SPLIT = "train", "test"


def training_data(images: ImagesResource) -> tuple[FaceSet, FaceSet]:
    """(train, test) faces; refuses too little data before any training starts."""
    train = load_split(images.root, TRAIN_SPLIT)
    require_trainable(train, images.root / TRAIN_SPLIT)
    test = load_split(images.root, TEST_SPLIT, train.classes)
    if not test.files:
        raise ValueError(f"no {TEST_SPLIT}/<emotion>/ images under {images.root} for the emotions {train.classes}")
    return train, test


def excluding_label_issues(
    context: AssetExecutionContext, train: FaceSet, lake: Location, root: Path
) -> FaceSet:
    """FER_EXCLUDE_LABEL_ISSUES: the train faces without those label_issues flagged (it must have run)."""
    try:
        ranked = pl.read_parquet(io.BytesIO(lake.read(LABEL_ISSUES_PATH)))
    except FileNotFoundError:
        raise ValueError(
            f"FER_EXCLUDE_LABEL_ISSUES=true but {LABEL_ISSUES_PATH} is not in the lake: materialize label_issues first"
        ) from None
    kept = without_issues(train, ranked)
    context.log.info(f"training without {len(train.files) - len(kept.files)} image(s) label_issues flagged")
    require_trainable(kept, Path(f"{root} (without the images label_issues flagged)"))
    return kept


def tracked_files(trained: Trained, metrics: dict) -> dict[str, bytes]:
    """What MLflow keeps of a version: the weights, the card and the confusion matrix as a picture."""
    picture = io.BytesIO()
    confusion_image(metrics["classes"], metrics["confusion"]).save(picture, format="PNG")
    card = model_card(metrics).encode()
    return {"model/model.pt": trained.model.to_bytes(), "model_card.md": card, "confusion.png": picture.getvalue()}


def side_by_side(evaluation: Evaluation, lake: Location) -> MetadataValue:
    """This model next to the served emotion_classifier (frozen seed vectors) on the test split."""
    lines = ["| model | accuracy | macro-F1 |", "|---|---:|---:|"]
    lines.append(f"| emotion_model (this run) | {evaluation.accuracy:.1%} | {evaluation.macro_f1:.3f} |")
    registry = model_registry(lake, EMOTION_CLASSIFIER)
    version = served_version(registry, None)
    if version is None:
        lines.append("| emotion_classifier | none promoted yet (job train_emotion_classifier) | |")
    else:
        metrics = registry.metrics(version)
        macro_f1 = f"{metrics['macro_f1']:.3f}" if "macro_f1" in metrics else "not recorded"
        lines.append(f"| emotion_classifier {version} | {metrics['accuracy']:.1%} | {macro_f1} |")
    return MetadataValue.md("\n".join(lines))


def train_where_asked(
    context: AssetExecutionContext,
    train: FaceSet,
    images: ImagesResource,
    settings: EmotionModelSettings,
    lake: LakeResource,
    ray: RayResource,
) -> tuple[Trained, Recipe, dict]:
    """Train in this process, or in a Ray task when FER_RAY_ADDRESS is set; (model, recipe, where it ran). Either
    checkpoints every epoch into the lake and resumes the last checkpoint of the same data and recipe."""
    progress = Progress(
        "emotion_model training", settings.max_epochs, context.log.info, unit="epochs",
        budget_s=settings.budget_minutes * 60,
    )

    def begin(recipe: Recipe, device: str) -> None:
        context.log.info(
            f"training {recipe.arch} on {len(train.files)} images ({train.counts()}) on {device}, "
            f"budget {recipe.budget_s / 60:.1f} min, at most {recipe.max_epochs} epochs"
        )

    with ray.engine() as (pool, where):
        if pool is None:
            recipe, device = settings.recipe(), settings.torch_device()
            begin(recipe, str(device))
            checkpoints = Checkpoints(lake.lake(), EMOTION_MODEL, train.digest, recipe, context.log.warning)
            trained = train_model(train, recipe, device, lambda epoch, accuracy: progress.advance(), checkpoints)
            where = where | {"device": str(device)}
        else:
            recipe = settings.recipe(torch.device("cuda") if pool.gpus_per_actor else None)
            begin(recipe, f"a Ray worker at {where['ray_address']}")
            trained, worker_device = train_on_ray(
                images.root, lake.lake_url, recipe, train.digest, settings.device, pool,
                lambda epoch, accuracy: progress.advance(),
            )
            where = where | {"device": worker_device}
    progress.finish()
    if trained.resumed_from:
        context.log.info(f"resumed from the checkpoint of epoch {trained.resumed_from}")
    return trained, recipe, where


@asset(name=names.EMOTION_MODEL, deps=[names.RAW_IMAGES], kinds={"pytorch", "adls"})
def emotion_model(
    context: AssetExecutionContext,
    images: ImagesResource,
    emotion_model_settings: EmotionModelSettings,
    lake: LakeResource,
    ray: RayResource,
) -> MaterializeResult:
    """Khaireddin & Chen's VGG recipe (see fer_platform.models.training.train) on every train/ emotion folder at
    48x48 grayscale, until FER_TRAIN_BUDGET_MINUTES, early stopping or 300 epochs; evaluated on test/ with
    ten-crop test-time augmentation; registered under the lake's models/emotion_model/ with metrics and a model
    card. Served only once not_worse_than_served promotes it. With FER_RAY_ADDRESS set it trains in a Ray task
    (one GPU when the cluster has one); this step then only drives, logs and registers."""
    train, test = training_data(images)
    location = lake.lake()
    if emotion_model_settings.exclude_label_issues:
        train = excluding_label_issues(context, train, location, images.root / TRAIN_SPLIT)
    trained, recipe, where = train_where_asked(context, train, images, emotion_model_settings, lake, ray)
    device = where["device"]
    evaluation = evaluate_model(trained.model, test)
    metrics = training_metrics(trained, evaluation, recipe, train, test, device)
    deduplicated = without_overlap(test, find_overlap(train, test))
    unseen = evaluate_model(trained.model, deduplicated).accuracy if deduplicated.files else None
    metrics["accuracy_deduplicated"] = unseen  # the test split without images that are also in train/
    metrics["test_samples_deduplicated"] = len(deduplicated.files)
    version = register_emotion_model(location, trained, metrics)
    Checkpoints(location, EMOTION_MODEL, train.digest, recipe).clear()  # registered: run finished
    mlflow_run = track_training(version, metrics, tracked_files(trained, metrics), context.log.warning)
    context.log.info(
        f"emotion_model {version}: test accuracy {evaluation.accuracy:.1%}, macro-F1 {evaluation.macro_f1:.3f}, "
        f"{trained.epochs} epochs, stopped by {trained.stopped_by}"
    )
    return MaterializeResult(
        metadata={
            "version": version,
            "arch": recipe.arch,
            **where,
            "epochs": trained.epochs,
            "stopped_by": trained.stopped_by,
            "fit_epochs": trained.fit_epochs,
            "reproduce_with": f"FER_TRAIN_EPOCHS={trained.fit_epochs}",
            "schedule": trained.schedule,
            "resumed_from_epoch": trained.resumed_from,
            "learning_curve": learning_curve_plot(trained.curve),
            "train_seconds": round(trained.train_seconds, 1),
            "train_images_per_s": round(trained.images_per_s, 1),
            "train_samples": len(train.files),
            **evaluation_metadata(evaluation),
            "accuracy_deduplicated": metrics["accuracy_deduplicated"],
            "excluded_label_issues": emotion_model_settings.exclude_label_issues,
            "mlflow_run_id": mlflow_run or "not tracked",
            "compared_with_emotion_classifier": side_by_side(evaluation, location),
            "model_card": MetadataValue.md(model_card(metrics)),
            "model_path": MetadataValue.path(f"{lake.lake_url}/{model_prefix(EMOTION_MODEL)}/{version}/"),
        }
    )
