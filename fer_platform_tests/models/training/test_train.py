"""Training on a tiny synthetic set: reproducible, stopped by its budget at the best checkpoint, refusing too
little data; a saved model loads back or fails clearly."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from fer_platform.models.faces import NotEnoughImagesError, load_split, require_trainable, validation_split
from fer_platform.models.model import EmotionModel, ModelFileError, ten_crops
from fer_platform.models.network import resolve_arch
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import train_model
from fer_platform.sample_data import write_sample_dataset

EMOTIONS = ("angry", "happy", "sad")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    write_sample_dataset(root, per_class=20, test_per_class=2, emotions=EMOTIONS)
    return load_split(root, "train")


def test_load_split_reads_every_face_and_digests_the_bytes(faces, tmp_path):
    assert faces.pixels.shape == (60, 48, 48) and faces.pixels.dtype == torch.uint8
    assert faces.classes == list(EMOTIONS) and faces.counts() == dict.fromkeys(EMOTIONS, 20)
    other = tmp_path / "other"
    write_sample_dataset(other, per_class=20, test_per_class=2, emotions=EMOTIONS, seed=1)
    assert load_split(other, "train").digest != faces.digest


def test_a_larger_or_colour_image_is_brought_to_48x48_gray(tmp_path):
    from PIL import Image

    for emotion in ("a", "b"):
        (tmp_path / "train" / emotion).mkdir(parents=True)
        Image.new("RGB", (200, 120), (200, 10, 10)).save(tmp_path / "train" / emotion / "x.jpg")
    (tmp_path / "train" / "a" / "broken.png").write_bytes(b"\x89PNG truncated")
    loaded = load_split(tmp_path, "train")
    assert loaded.pixels.shape == (2, 48, 48) and list(loaded.failures) == ["train/a/broken.png"]


def test_too_few_images_or_one_class_are_refused_with_the_counts(faces):
    with pytest.raises(NotEnoughImagesError, match=r"below 25 per emotion \(angry=20, happy=20, sad=20\)"):
        require_trainable(faces, Path("/data/train"), minimum=25)
    single = type(faces)(faces.pixels[:20], faces.labels[:20], ["angry"], faces.files[:20], "x", {})
    with pytest.raises(NotEnoughImagesError, match="at least two emotions.*angry=20"):
        require_trainable(single, Path("/data/train"))


def test_the_validation_split_keeps_every_class_and_a_face_s_copies_on_one_side(faces):
    train, validation = validation_split(faces, 0.1)
    assert len(train) + len(validation) == 60 and not set(train.tolist()) & set(validation.tolist())
    assert set(faces.labels[validation].tolist()) == {0, 1, 2} and 3 <= len(validation) <= 15
    assert torch.equal(validation, validation_split(faces, 0.1)[1])  # no seed: the same faces every time
    first, other = int(validation[0]), int(train[0])
    copied = torch.cat([faces.pixels, faces.pixels[[first, other]].flip(-1), faces.pixels[[first, other]]])
    labels = torch.cat([faces.labels, faces.labels[[first, other]], faces.labels[[first, other]]])
    grown = type(faces)(copied, labels, faces.classes, faces.files + ["m1", "m2", "c1", "c2"], "x", {})
    grown_train, grown_validation = validation_split(grown, 0.1)
    assert {first, 60, 62} <= set(grown_validation.tolist())  # its mirror and copy go where the face went
    assert {other, 61, 63} <= set(grown_train.tolist())


def test_a_subset_keeps_its_faces_split_positions_without_searching_the_copies_again(faces, monkeypatch):
    positions = faces.positions
    monkeypatch.setattr("fer_platform.models.faces.copy_groups", lambda pixels: pytest.fail("searched again"))
    keep = torch.arange(0, 60, 2)
    part = faces.subset(keep)
    assert part.positions.tolist() == positions[keep.numpy()].tolist()
    train, validation = validation_split(part, 0.1)
    for label in range(3):  # in each class, the validation faces are those lowest in position
        held = [part.positions[i] for i in validation.tolist() if part.labels[i] == label]
        kept = [part.positions[i] for i in train.tolist() if part.labels[i] == label]
        assert held and kept and max(held) < min(kept)


def test_ten_crops_are_corners_centre_and_mirrors():
    x = torch.arange(48 * 48, dtype=torch.float32).view(1, 1, 48, 48)
    crops = ten_crops(x)
    assert crops.shape == (10, 1, 40, 40)
    assert torch.equal(crops[0], x[0, :, :40, :40]) and torch.equal(crops[5], x[0, :, :40, :40].flip(-1))
    assert torch.equal(crops[4], x[0, :, 4:44, 4:44])


def test_training_is_reproducible_on_cpu(faces):
    recipe = Recipe(arch="vgg_small", budget_s=600, max_epochs=2)
    first = train_model(faces, recipe, torch.device("cpu"))
    second = train_model(faces, recipe, torch.device("cpu"))
    assert first.validation_accuracy == second.validation_accuracy and first.stopped_by == "max_epochs"
    for name, tensor in first.model.network.state_dict().items():
        assert torch.equal(tensor, second.model.network.state_dict()[name]), name


def test_the_budget_ends_training_at_the_best_checkpoint(faces):
    epochs_seen = []
    trained = train_model(
        faces,
        Recipe(arch="vgg_small", budget_s=1.5, max_epochs=300, early_stopping_patience=1000),
        torch.device("cpu"),
        lambda epoch, accuracy: epochs_seen.append(epoch),
    )
    assert trained.stopped_by == "budget" and 1 <= trained.epochs < 300
    assert trained.validation_accuracy[trained.best_epoch - 1] == max(trained.validation_accuracy)
    assert trained.train_seconds < 30


@pytest.mark.slow  # trains for seconds
def test_a_run_the_budget_ends_anneals_to_zero_and_records_its_curve(faces):
    """auto on a budget that ends training long before 300 epochs: one_cycle, warm-up in epoch 1, then a
    falling learning rate that is near zero by the last epoch; every epoch's loss, accuracy and rate kept."""
    # 20 s: the plan is fixed from epoch 1, which the isolated Ray suites running beside can make 3x slower
    recipe = Recipe(arch="vgg_small", budget_s=20, max_epochs=300, batch_size=8, early_stopping_patience=1000)
    trained = train_model(faces, recipe, torch.device("cpu"))
    assert trained.stopped_by == "budget"  # the tiny validation slice saturates: early stopping is kept out of it
    assert trained.schedule == "one_cycle" and "of 300 epochs" in trained.schedule_reason
    rates = [c["learning_rate"] for c in trained.curve]
    assert rates[0] < 0.01  # the warm-up starts below the rate
    # at least warm-up, peak and one falling epoch (a machine shared during epoch 1 plans fewer)
    assert len(rates) >= 3 and all(a >= b for a, b in zip(rates[1:], rates[2:])) and rates[-1] < rates[1]
    if trained.epochs == trained.fit_epochs >= 4:  # not cut short by a machine slower than its first epoch said
        assert rates[-1] < 0.5 * 0.01
    assert [c["validation_accuracy"] for c in trained.curve] == trained.validation_accuracy
    assert all(c["train_loss"] > 0 for c in trained.curve)


@pytest.mark.slow  # trains for seconds
def test_a_budget_run_is_repeated_step_for_step_by_its_fitted_epochs(faces):
    """The budget fixes the run's length once, after the first epoch; FER_TRAIN_EPOCHS set to it repeats the run:
    the same rates, losses and weights (the same machine and thread count), however long the budget."""
    budget = Recipe(arch="vgg_small", budget_s=6, max_epochs=300, batch_size=8, early_stopping_patience=1000)
    first = train_model(faces, budget, torch.device("cpu"))
    assert first.schedule == "one_cycle" and first.stopped_by == "budget" and first.epochs == first.fit_epochs
    again = train_model(faces, replace(budget, budget_s=600, epochs=first.fit_epochs), torch.device("cpu"))
    assert (again.stopped_by, again.schedule) == ("epochs", "one_cycle") and "FER_TRAIN_EPOCHS" in again.schedule_reason
    assert again.curve == first.curve
    for name, tensor in first.model.network.state_dict().items():
        assert torch.equal(tensor, again.model.network.state_dict()[name]), name


@pytest.mark.slow  # trains for seconds
def test_plateau_asked_for_keeps_the_recipes_constant_start(faces):
    trained = train_model(
        faces, Recipe(arch="vgg_small", budget_s=8, max_epochs=300, schedule="plateau"), torch.device("cpu")
    )
    assert trained.schedule == "plateau" and {c["learning_rate"] for c in trained.curve[:5]} == {0.01}


def test_a_saved_model_loads_back_and_a_damaged_one_fails_clearly(faces):
    trained = train_model(faces, Recipe(arch="vgg_small", budget_s=600, max_epochs=1), torch.device("cpu"))
    data = trained.model.to_bytes()
    loaded = EmotionModel.from_bytes(data)
    probabilities, features = loaded.infer(faces.pixels[:5])
    expected, _ = trained.model.infer(faces.pixels[:5])
    assert probabilities == pytest.approx(expected, abs=1e-6) and features.shape == (5, 512)
    assert probabilities.sum(axis=1) == pytest.approx([1.0] * 5, abs=1e-5)
    with pytest.raises(ModelFileError, match="not a loadable emotion model"):
        EmotionModel.from_bytes(data[: len(data) // 3])


def test_auto_architecture_depends_on_the_device():
    assert resolve_arch("auto", torch.device("cpu")) == "vgg_small"
    assert resolve_arch("auto", torch.device("cuda")) == "vgg"
    with pytest.raises(ValueError, match="unknown FER_MODEL_ARCH 'vit'"):
        resolve_arch("vit", torch.device("cpu"))


@pytest.mark.slow  # trains for seconds
def test_the_seed_backbone_can_be_fine_tuned(faces):
    """resnet18_imagenet (here from random weights: no ImageNet file offline) trains and predicts like the VGG."""
    few = type(faces)(faces.pixels[::6], faces.labels[::6], faces.classes, faces.files[::6], "x", {})
    trained = train_model(
        few, Recipe(arch="resnet18_imagenet", budget_s=600, max_epochs=1, weights="random"), torch.device("cpu")
    )
    probabilities, features = EmotionModel.from_bytes(trained.model.to_bytes()).infer(few.pixels[:2])
    assert probabilities.shape == (2, 3) and features.shape == (2, 512) and trained.epochs == 1
