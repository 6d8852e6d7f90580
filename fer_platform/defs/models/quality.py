"""The data's own problems, found for the people who curate it: test images that are also in train/
(``split_overlap``) and train images whose label is probably wrong (``label_issues``). Both read the image
folders themselves, so they materialize on a fresh instance without any upstream asset."""

import io

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from fer_platform.defs.models.metadata import captioned_faces
from fer_platform.defs.models.resources import EmotionModelSettings
from fer_platform.lake.layout import LABEL_ISSUES_PATH, SPLIT_OVERLAP_PATH, TRAIN_DUPLICATES_PATH
from fer_platform.models.faces import FaceSet, load_split
from fer_platform.models.quality.label_issues import (
    learning_warnings,
    out_of_sample_probabilities,
    rank_label_issues,
)
from fer_platform.models.quality.overlap import find_overlap, train_duplicates
from fer_platform.orchestration import names
from fer_platform.orchestration.resources import ImagesResource, LakeResource

GRID_ROWS = 24


def write_parquet(lake: LakeResource, path: str, frame: pl.DataFrame) -> MetadataValue:
    """``frame`` as zstd Parquet at ``path`` in the lake (written whole); its location for the UI."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    lake.lake().write_atomic(path, buffer.getvalue())
    return MetadataValue.path(f"{lake.lake_url}/{path}")


def face_of(faces: FaceSet) -> dict:
    """File path -> (48x48 pixels, label) for the grids."""
    return {f: (faces.pixels[i].numpy(), faces.classes[int(faces.labels[i])]) for i, f in enumerate(faces.files)}


@asset(
    name=names.SPLIT_OVERLAP,
    kinds={"polars", "adls"},
    check_specs=[AssetCheckSpec(names.NO_TEST_IMAGES_IN_TRAIN, asset=names.SPLIT_OVERLAP, blocking=False)],
)
def split_overlap(context: AssetExecutionContext, images: ImagesResource, lake: LakeResource) -> MaterializeResult:
    """Test images with the same pixels as a train image (whatever the bytes), a mirrored copy, or the same face
    re-encoded, brightened or shifted (see fer_platform.models.quality.overlap), in
    FER_LAKE_URL/quality/split_overlap.parquet; a grid shows each test face beside its train twin with both
    labels. Copies inside train/ go to FER_LAKE_URL/quality/train_duplicates.parquet (training keeps each face's
    copies on one side of its validation split). The check warns with the count (such copies inflate scores)."""
    train = load_split(images.root, "train")
    test = load_split(images.root, "test", train.classes)
    overlap = find_overlap(train, test)
    faces = face_of(train) | face_of(test)
    pairs = [
        ([faces[t][0], faces[r][0]], f"{faces[t][1]} / {faces[r][1]}")
        for t, r in overlap.select("test_filepath", "train_filepath").head(GRID_ROWS).iter_rows()
    ]
    counts = dict(overlap.group_by("kind").len().iter_rows())
    found, duplicates = len(overlap), train_duplicates(train)
    context.log.info(f"{found} of {len(test.files)} test images are also in train/ ({counts or 'none'}); "
                     f"{len(duplicates)} of {len(train.files)} train images have a copy in train/")
    return MaterializeResult(
        metadata={
            "test_images": len(test.files),
            "identical": counts.get("identical", 0),
            "mirrored": counts.get("mirrored", 0),
            "near": counts.get("near", 0),
            "path": write_parquet(lake, SPLIT_OVERLAP_PATH, overlap),
            "train_duplicates": len(duplicates),
            "train_duplicates_path": write_parquet(lake, TRAIN_DUPLICATES_PATH, duplicates),
            "pairs": captioned_faces(pairs, "test face, its train twin; labels test / train"),
        },
        check_results=[
            AssetCheckResult(
                check_name=names.NO_TEST_IMAGES_IN_TRAIN,
                passed=found == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={"test_images_in_train": found, "share": round(found / max(1, len(test.files)), 4)},
            )
        ],
    )


@asset(name=names.LABEL_ISSUES, kinds={"pytorch", "adls"})
def label_issues(
    context: AssetExecutionContext,
    images: ImagesResource,
    emotion_model_settings: EmotionModelSettings,
    lake: LakeResource,
) -> MaterializeResult:
    """Every train/ image ranked by confident learning (cleanlab) on out-of-sample probabilities from 5 folds,
    each fold's model trained on the others for a fifth of FER_TRAIN_BUDGET_MINUTES, in
    FER_LAKE_URL/quality/label_issues.parquet; a grid shows the top suspects (given -> suggested label).
    FER_EXCLUDE_LABEL_ISSUES=true trains emotion_model without the flagged images."""
    train = load_split(images.root, "train")
    recipe = emotion_model_settings.fold_recipe()
    context.log.info(f"label_issues: 5 folds of {len(train.files)} images, {recipe.budget_s / 60:.1f} min each")
    probabilities = out_of_sample_probabilities(
        train, recipe, emotion_model_settings.torch_device(), on_fold=lambda n: context.log.info(f"fold {n}/5 done")
    )
    ranked = rank_label_issues(train, probabilities)
    learned, recall, warnings = learning_warnings(train, probabilities)
    for warning in warnings:
        context.log.warning(warning)
    faces = face_of(train)
    suspects = [
        ([faces[f][0]], f"{given} -> {suggested}")
        for f, given, suggested in ranked.filter(pl.col("is_issue")).head(GRID_ROWS)
        .select("filepath", "given_label", "suggested_label").iter_rows()
    ]
    return MaterializeResult(
        metadata={
            "train_images": len(train.files),
            "issues": int(ranked["is_issue"].sum()),
            "out_of_sample_accuracy": round(learned, 4),
            "out_of_sample_recall": recall,
            "path": write_parquet(lake, LABEL_ISSUES_PATH, ranked),
            "top_suspects": captioned_faces(suspects, "most likely mislabelled: given -> suggested"),
        }
    )
