"""``metrics.json`` and the model card of an ``emotion_model`` version (Mitchell et al. 2019, "Model Cards for Model
Reporting"): what it was trained on, how, on which device and for how long, and how well it did."""

from __future__ import annotations

from dataclasses import asdict

from fer_platform.models.evaluation import Evaluation
from fer_platform.models.faces import FaceSet
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import Trained

ARCH_SOURCES = {
    "vgg": "Khaireddin & Chen 2021, arXiv:2105.03588 (VGG variant, fully connected layers 1,024 wide)",
    "vgg_small": "Khaireddin & Chen 2021, arXiv:2105.03588, at half width (CPU default)",
    "resnet18_imagenet": "the seed's ImageNet ResNet18, fine-tuned end to end at 224x224",
}


SCHEDULE_SOURCES = {
    "plateau": "The recipe's ReduceLROnPlateau on validation accuracy (factor {plateau_factor}, patience "
    "{plateau_patience}).",
    "one_cycle": "Linear warm-up from lr/10 over the first epoch, then cosine annealing to zero at the last epoch "
    "that fits the budget (Smith & Topin 2019, arXiv:1708.07120; Loshchilov & Hutter 2017, SGDR).",
}


def _average(recipe: dict) -> str:
    """What the card says of the weights kept: the per-step average (EMA) or the network's own."""
    decay = recipe.get("ema_decay", 0.0)
    return f"an exponential moving average per step (decay {decay}; Polyak)" if decay else "the network's own"


def _strength(recipe: dict) -> str:
    """Where the strength came from: fitted (FER_TRAIN_AUGMENT_STRENGTH unset) or asked for."""
    asked = recipe.get("augment_strength")
    return "fitted to the run's length" if asked is None else f"FER_TRAIN_AUGMENT_STRENGTH={asked}"


def model_card(metrics: dict) -> str:
    """Markdown for ``model_card.md`` from a version's ``metrics.json`` content."""
    recipe = metrics["recipe"]
    recall = "\n".join(f"| {c} | {r:.1%} |" for c, r in metrics["recall_per_emotion"].items())
    return f"""# emotion_model

## Intended use
Emotion scores for a 48x48 grayscale face crop, and expression vectors for similarity search
(`POST /predict`, `POST /search?space=expression`). Not for decisions about people.

## Data
- train: {metrics["train_samples"]} images, digest `{metrics["train_digest"]}` (sha256 over path and content sha256)
- test: {metrics["test_samples"]} images, digest `{metrics["test_digest"]}`
- classes: {", ".join(metrics["classes"])}

## Recipe
- network: `{recipe["arch"]}` ({ARCH_SOURCES.get(recipe["arch"], recipe["arch"])})
- SGD, Nesterov momentum {recipe["momentum"]}, learning rate {recipe["learning_rate"]}, weight decay
  {recipe["weight_decay"]}, batch {recipe["batch_size"]}
- schedule: `{metrics["schedule"]}` (FER_TRAIN_SCHEDULE={recipe["schedule"]}): {metrics["schedule_reason"]}.
  {SCHEDULE_SOURCES[metrics["schedule"]].format(**recipe)}
- augmentation at strength {metrics.get("augment_strength", 1.0):.2f} of the paper's ({_strength(recipe)}; 1:
  resized crop area 0.8-1.0, brightness/contrast 0.5 (p 0.5), shift 20 % (p 0.5), rotation 10 degrees (p 0.5),
  random erasing (p 0.5); magnitudes and the erasing's probability scale with it), horizontal flip, random
  40x40 crop
- loss: cross-entropy weighted by inverse class frequency to the power {recipe.get("class_weight_power", 1.0)}
  (1: fully balanced), label smoothing {recipe.get("label_smoothing", 0.0)} (Szegedy et al. 2016)
- weights: {_average(recipe)}; autocast: {recipe.get("precision", "auto")} (auto: bf16 on a CPU with bf16
  kernels, fp16 on a GPU)
- validation: stratified {recipe["validation_fraction"]:.0%} of train chosen by each face's pixels (the same
  faces for every version; a face's copies and mirror on one side); early stopping after
  {recipe["early_stopping_patience"]} epochs without improvement; the best validation checkpoint is kept;
  promotion compares this slice's scores with the champion's (test/ is only reported)
- test-time augmentation: ten 40x40 crops (corners, centre, mirrored), softmax averaged (each epoch's
  validation: the centre crop alone)
- seed {recipe["seed"]}; at most {recipe["max_epochs"]} epochs; budget {recipe["budget_s"] / 60:.1f} minutes

## Training
- device: {metrics["device"]}
- epochs: {metrics["epochs"]} (best: {metrics["best_epoch"]}), stopped by: {metrics["stopped_by"]}; the run's
  length, fixed after its first epoch: {metrics.get("fit_epochs")} (`FER_TRAIN_EPOCHS={metrics.get("fit_epochs")}`
  repeats this run step for step on the same machine and thread count)
- time: {metrics["train_seconds"]:.0f} s, {metrics["images_per_s"]:.0f} images/s

## Test split
- accuracy {metrics["accuracy"]:.1%}, macro-F1 {metrics["macro_f1"]:.3f},
  expected calibration error {metrics["expected_calibration_error"]:.3f}

| emotion | recall |
|---|---:|
{recall}

Published figures on the real FER2013 test split: 65-73 % accuracy (human agreement about 65 %).
Figures on synthetic data say little about real faces.
"""


def training_metrics(
    trained: Trained, evaluation: Evaluation, recipe: Recipe, train: FaceSet, test: FaceSet, device: str | None = None
) -> dict:
    """``metrics.json``: the test-split figures, how training ended, and what it was trained on."""
    return {
        "accuracy": evaluation.accuracy,
        "macro_f1": evaluation.macro_f1,
        "recall_per_emotion": evaluation.recall,
        "expected_calibration_error": evaluation.expected_calibration_error,
        "confusion": evaluation.confusion,
        "test_samples": evaluation.samples,
        "epochs": trained.epochs,
        "best_epoch": trained.best_epoch,
        "stopped_by": trained.stopped_by,
        "fit_epochs": trained.fit_epochs,
        "augment_strength": trained.augment_strength,
        "train_seconds": round(trained.train_seconds, 2),
        "images_per_s": round(trained.images_per_s, 1),
        "validation_accuracy": trained.validation_accuracy,
        "schedule": trained.schedule,
        "schedule_reason": trained.schedule_reason,
        "learning_curve": trained.curve,
        "classes": train.classes,
        "train_samples": len(train.files),
        "train_digest": train.digest,
        "test_digest": test.digest,
        "recipe": asdict(recipe),
        "device": device or str(trained.model.device),
    }
