"""The batch augmentation: seeded, in range, and its strength scales every distortion: at 0 only the flip and the
random 40x40 crop remain; the strength a run augments at follows its length."""

import pytest
import torch

from fer_platform.models.faces import FaceSet
from fer_platform.models.training.augment import FULL_STRENGTH_EPOCHS, MIN_STRENGTH, augment, strength_for
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import Trainer


@pytest.fixture(scope="module")
def pixels() -> torch.Tensor:
    return torch.randint(0, 256, (32, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def crops_and_mirrors(face: torch.Tensor) -> list[torch.Tensor]:
    """Every 40x40 crop of a 48x48 face at a whole-pixel offset, and their mirrors, in [0, 1]."""
    scaled = face.float() / 255
    crops = [scaled[top : top + 40, left : left + 40] for top in range(9) for left in range(9)]
    return crops + [crop.flip(-1) for crop in crops]


def distance_to_a_plain_crop(face: torch.Tensor, augmented: torch.Tensor) -> float:
    return min(float((crop - augmented).abs().mean()) for crop in crops_and_mirrors(face))


def test_augmentation_is_seeded_and_keeps_pixels_in_range(pixels):
    first = augment(pixels[:16], torch.Generator().manual_seed(3))
    again = augment(pixels[:16], torch.Generator().manual_seed(3))
    assert first.shape == (16, 1, 40, 40) and torch.equal(first, again)
    assert 0 <= float(first.min()) and float(first.max()) <= 1
    assert not torch.equal(first, augment(pixels[:16], torch.Generator().manual_seed(4)))


def test_at_strength_zero_only_the_flip_and_the_crop_remain(pixels):
    augmented = augment(pixels, torch.Generator().manual_seed(5), strength=0.0)
    for face, out in zip(pixels, augmented[:, 0]):
        assert distance_to_a_plain_crop(face, out) < 1e-6


def test_the_distortion_grows_with_the_strength(pixels):
    def mean_distortion(strength: float) -> float:
        augmented = augment(pixels, torch.Generator().manual_seed(6), strength=strength)
        return sum(distance_to_a_plain_crop(f, a) for f, a in zip(pixels, augmented[:, 0])) / len(pixels)

    weak, half, full = mean_distortion(0.1), mean_distortion(0.5), mean_distortion(1.0)
    assert 0 < weak < half < full


def test_the_strength_follows_the_run_s_length_between_the_floor_and_the_paper_s():
    assert strength_for(None) == strength_for(1) == MIN_STRENGTH  # the first epoch, before the length is fixed
    assert strength_for(FULL_STRENGTH_EPOCHS) == strength_for(300) == 1.0
    middle = int(FULL_STRENGTH_EPOCHS * 0.6)
    assert strength_for(middle) == pytest.approx(middle / FULL_STRENGTH_EPOCHS)


def test_a_trainer_augments_at_the_floor_until_its_length_is_fixed_unless_a_strength_is_asked_for(pixels):
    faces = FaceSet(pixels, torch.arange(32) % 2, ["a", "b"], [f"f{i}" for i in range(32)], "digest", {})
    fitted = Trainer(faces, Recipe(arch="vgg_small", budget_s=60), torch.device("cpu"))
    assert fitted.augment_strength() == MIN_STRENGTH
    fitted.schedule, fitted.fit_epochs = "one_cycle", int(FULL_STRENGTH_EPOCHS * 0.6)
    assert fitted.augment_strength() == pytest.approx(0.6)
    asked = Trainer(faces, Recipe(arch="vgg_small", budget_s=60, augment_strength=0.8), torch.device("cpu"))
    assert asked.augment_strength() == 0.8
