"""emotion_model end to end through Dagster on a tiny synthetic set: registered version, metrics, model card,
promotion, the check refusing a worse model, expression vectors recomputed only when something changed."""

import json
import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions, asset, define_asset_job

from fer_platform.definitions import build_definitions
from fer_platform.lake.layout import model_prefix
from fer_platform.models.faces import load_split, validation_split
from fer_platform.models.lifecycle.registry import EMOTION_MODEL, model_registry
from fer_platform.models.training.recipe import Recipe
from fer_platform.orchestration import names
from fer_platform.orchestration.names import EMOTION_MODEL_JOB, EXPRESSION_JOB, NOT_WORSE_THAN_SERVED
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform.table.expression import EXPRESSION_TABLE
from fer_platform_tests.support.constants import TEST_EMOTIONS
from fer_platform_tests.support.helpers import asset_metadata, check_results, run_partition
from fer_platform_tests.support.servers.databases import copy_database
from fer_platform_tests.support.textures import save, textures

pytestmark = pytest.mark.slow  # trains emotion_model versions

METRICS_KEYS = {"accuracy", "macro_f1", "recall_per_emotion", "epochs", "stopped_by", "train_seconds"}


def lake_registry():
    return model_registry(open_location(load_settings().resolved_lake_url), EMOTION_MODEL)


def train(instance: DagsterInstance):
    job = build_definitions(load_settings()).resolve_job_def(EMOTION_MODEL_JOB)
    return job.execute_in_process(instance=instance, raise_on_error=False)


def step_failure(result) -> str:
    """The failed step's error with its causes."""
    return "\n".join(e.event_specific_data.error.to_string() for e in result.all_events if e.is_step_failure)


def test_trained_version_is_registered_promoted_and_described(search_env: dict[str, str]) -> None:
    registry = lake_registry()
    assert registry.versions() == ["v0001"] and registry.promoted() == "v0001"
    metrics = registry.metrics("v0001")
    assert METRICS_KEYS <= metrics.keys()
    assert set(metrics["recall_per_emotion"]) == set(TEST_EMOTIONS)
    assert metrics["stopped_by"] in ("max_epochs", "early_stopping") and 1 <= metrics["epochs"] <= 15
    assert metrics["accuracy"] > 1 / len(TEST_EMOTIONS) + 0.1  # better than chance on the synthetic faces
    card = registry.read("v0001", "model_card.md").decode()
    assert "arXiv:2105.03588" in card and metrics["train_digest"] in card and "vgg_small" in card
    assert f"schedule: `{metrics['schedule']}`" in card and metrics["schedule_reason"] in card
    assert metrics["augment_strength"] == 1.0 and "FER_TRAIN_AUGMENT_STRENGTH=1.0" in card  # the setting reached it
    assert [c["epoch"] for c in metrics["learning_curve"]] == list(range(1, metrics["epochs"] + 1))
    lake = open_location(load_settings().resolved_lake_url)
    assert lake.names("models/emotion_model/_runs/") == set()  # registered: the run's checkpoints are gone


def test_expression_vectors_only_recompute_what_changed(search_env: dict[str, str]) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = run_partition("happy", instance, EXPRESSION_JOB)
    meta = asset_metadata(result, "expression_vectors")
    assert (meta["computed"], meta["model_version"]) == (0, "v0001")
    assert meta["unchanged"] == meta["partition_rows"] > 0


@asset(deps=[names.EMOTION_MODEL])
def serves_emotion_model() -> None:
    """Stands for whatever uses the new emotion_model next (expression_vectors): a blocking check must stop it."""


def train_then_serve(instance: DagsterInstance):
    """emotion_model with its check, and an asset downstream of it, in one run on the real definitions."""
    defs = Definitions.merge(
        build_definitions(load_settings()),
        Definitions(
            assets=[serves_emotion_model],
            jobs=[define_asset_job("train_then_serve", selection=[names.EMOTION_MODEL, "serves_emotion_model"])],
        ),
    )
    return defs.resolve_job_def("train_then_serve").execute_in_process(instance=instance, raise_on_error=False)


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


@pytest.fixture
def own_copy(search_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The module's lake, image root and replica database copied and set in the environment, for a test that
    registers, promotes or changes images: the module's other tests see the platform as the fixture built it,
    whatever the order."""
    copies = {
        "FER_LAKE_URL": shutil.copytree(load_settings().resolved_lake_url, tmp_path / "lake"),
        "FER_IMAGE_ROOT": shutil.copytree(search_env["FER_IMAGE_ROOT"], tmp_path / "images"),
        "FER_REPLICA_DSN": copy_database(search_env["FER_REPLICA_DSN"]),
    }
    for name, value in copies.items():
        monkeypatch.setenv(name, str(value))
    return search_env | {name: str(value) for name, value in copies.items()}


def swap_outside_validation(root: Path, first: str, second: str) -> None:
    """Move the train/ faces of ``first`` and ``second`` that training learns from (not its validation slice)
    into each other's folder: a model trained there is worse on the held-out faces, which keep their labels."""
    faces = load_split(root, "train")
    held = {faces.files[i] for i in validation_split(faces, Recipe.validation_fraction)[1].tolist()}
    moves = [
        (root / path, root / "train" / to / f"swapped_{Path(path).name}")
        for source, to in ((first, second), (second, first))
        for path in faces.files
        if path.startswith(f"train/{source}/") and path not in held
    ]
    for source, target in moves:
        source.rename(target)


def test_worse_model_is_not_promoted_and_blocks_downstream(
    own_copy: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Train on images whose labels are swapped (happy <-> sad) outside the validation slice: the check, which
    scores on that slice against the champion, fails, the pointer stays and the asset downstream is not
    materialized. Then, with that worse version served (a rollback keeps the champion), a model trained on the
    true labels passes: it is promoted and the downstream asset runs."""
    root = tmp_path / "swapped"
    shutil.copytree(own_copy["FER_IMAGE_ROOT"], root)
    swap_outside_validation(root, "happy", "sad")
    monkeypatch.setenv("FER_IMAGE_ROOT", str(root))
    registry = lake_registry()
    with DagsterInstance.ephemeral() as instance:
        result = train_then_serve(instance)
    assert check_results(result)[NOT_WORSE_THAN_SERVED] is False
    assert materialized(result) == {names.EMOTION_MODEL}  # the downstream asset was blocked
    assert not result.success
    swapped = registry.versions()[-1]
    assert swapped != "v0001" and registry.promoted() == "v0001"
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == NOT_WORSE_THAN_SERVED)
    assert "worse than the champion on validation" in evaluation.description
    assert registry.champion() == "v0001"
    registry.promote(swapped)  # serve the worse version: a model of the true labels is not worse than it
    monkeypatch.setenv("FER_IMAGE_ROOT", own_copy["FER_IMAGE_ROOT"])
    for k, image in enumerate(textures(3, seed=5)):  # unlike every synthetic face: left after deduplication
        save(Path(own_copy["FER_IMAGE_ROOT"]) / "test" / "happy" / f"texture{k}.png", image)
    with DagsterInstance.ephemeral() as instance:
        good = train_then_serve(instance)
    assert check_results(good)[NOT_WORSE_THAN_SERVED] is True and good.success
    passed = next(e for e in good.get_asset_check_evaluations() if e.check_name == NOT_WORSE_THAN_SERVED)
    assert passed.metadata["candidate_accuracy_deduplicated"].value is not None  # reported beside accuracy
    assert registry.promoted() == registry.versions()[-1] != swapped
    assert materialized(good) == {names.EMOTION_MODEL, "serves_emotion_model"}


def test_too_few_images_are_refused(fer_env: dict[str, str]) -> None:
    """The conftest set has 4 train images per emotion: refused, naming the counts, before any training."""
    with DagsterInstance.ephemeral() as instance:
        result = train(instance)
    assert not result.success
    message = step_failure(result)
    assert "too few images" in message and "angry=4" in message
    assert lake_registry().versions() == []


def test_single_class_is_refused(fer_env: dict[str, str], image_root: Path) -> None:
    for emotion in TEST_EMOTIONS[1:]:
        shutil.rmtree(image_root / "train" / emotion)
    with DagsterInstance.ephemeral() as instance:
        result = train(instance)
    assert not result.success
    assert "at least two emotions" in step_failure(result)


def test_registered_files_are_json_and_weights(search_env: dict[str, str]) -> None:
    lake = Path(load_settings().resolved_lake_url) / model_prefix(EMOTION_MODEL) / "v0001"
    assert {"model.pt", "metrics.json", "model_card.md"} <= {p.name for p in lake.iterdir()}
    json.loads((lake / "metrics.json").read_text())


def test_expression_table_holds_every_stored_image(search_env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(search_env["FER_REPLICA_DSN"]) as conn:
        seed = conn.execute("SELECT count(*) FROM imagenes_fer").fetchone()[0]
        expr = conn.execute(f"SELECT count(*), count(DISTINCT model_version) FROM {EXPRESSION_TABLE}").fetchone()
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (f"{EXPRESSION_TABLE}_vector_hnsw",)
        )
        assert "hnsw" in index.fetchone()[0]
    assert expr == (seed, 1)


def test_expression_vectors_follow_a_new_version_and_changed_images(own_copy: dict[str, str]) -> None:
    """On its own copy of the platform: it promotes another version and changes an image."""
    registry = lake_registry()
    copy = registry.register({"model.pt": registry.read("v0001", "model.pt")}, registry.metrics("v0001"))
    registry.promote(copy)
    with DagsterInstance.ephemeral() as instance:
        meta = asset_metadata(run_partition("sad", instance, EXPRESSION_JOB), "expression_vectors")
        assert (meta["computed"], meta["model_version"]) == (meta["partition_rows"], copy)
        root = Path(own_copy["FER_IMAGE_ROOT"])
        shutil.copy(root / "train" / "sad" / "im1.png", root / "train" / "sad" / "im0.png")
        meta = asset_metadata(run_partition("sad", instance, EXPRESSION_JOB), "expression_vectors")
    assert meta["computed"] == 1 and meta["unchanged"] == meta["partition_rows"] - 1
