"""The embedding read tasks' batched resize: uint8 crops within one level of PIL's ``Resize(256)`` +
``CenterCrop(224)`` (identical on square FER faces), any size or mode, bad files carrying their reasons."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

from fer_platform.images.batched_resize import CROP_SIDE, RESIZE_SHORT, resized_size, seed_crops
from fer_platform.images.decode import decode_image
from fer_platform.images.reading import read_seed_crops
from fer_platform_tests.support.bad_images import write_bad_files, write_unusual_good_files

PIL_GEOMETRY = transforms.Compose([transforms.Resize(RESIZE_SHORT), transforms.CenterCrop(CROP_SIDE)])
SIZES = [(48, 48), (48, 64), (64, 48), (300, 200), (1000, 37), (224, 224), (256, 256), (257, 300), (100, 99)]


def pil_crop(pixels: np.ndarray) -> np.ndarray:
    return np.asarray(PIL_GEOMETRY(Image.fromarray(pixels, mode="L")))


def images_of(height: int, width: int, seed: int) -> list[np.ndarray]:
    """Noise, which stresses the resampler most, and a smooth ramp."""
    rng = np.random.default_rng(seed)
    ramp = (np.add.outer(np.arange(height), np.arange(width)) * 2 % 256).astype(np.uint8)
    return [rng.integers(0, 256, (height, width), dtype=np.uint8), ramp]


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_output_size_is_torchvisions(height, width):
    resized = transforms.Resize(RESIZE_SHORT)(Image.new("L", (width, height)))
    assert resized_size(height, width) == (resized.height, resized.width)


def test_crops_are_pils_within_one_level_and_exact_on_square_faces():
    images = [image for k, (h, w) in enumerate(SIZES) for image in images_of(h, w, k)]
    crops = seed_crops(images)  # mixed sizes in one batch: grouped by size, handed back in order
    assert crops.shape == (len(images), CROP_SIDE, CROP_SIDE) and crops.dtype == np.uint8
    diffs = [np.abs(crop.astype(int) - pil_crop(image).astype(int)).max() for crop, image in zip(crops, images)]
    assert max(diffs) <= 1
    faces = images_of(48, 48, 99)
    assert all(np.array_equal(crop, pil_crop(face)) for crop, face in zip(seed_crops(faces), faces))


def test_read_tasks_crop_every_mode_and_keep_bad_files_reasons(tmp_path):
    reasons = write_bad_files(tmp_path)
    good = write_unusual_good_files(tmp_path)
    Image.fromarray(images_of(90, 130, 1)[0]).convert("RGB").save(tmp_path / "wide rgb.png")
    Image.fromarray(images_of(64, 48, 2)[1].astype(np.float32) * 3.5, mode="F").save(tmp_path / "float.tiff")
    good += ["wide rgb.png", "float.tiff"]
    names = good + list(reasons)
    batch = {"index": np.arange(10, 10 + len(names)), "location": np.array([str(tmp_path / n) for n in names])}
    out = read_seed_crops(batch)
    assert out["index"].tolist() == batch["index"].tolist()
    assert out["crop"].shape == (len(names), CROP_SIDE, CROP_SIDE) and out["crop"].dtype == np.uint8
    for k, name in enumerate(names):
        if name in reasons:
            assert reasons[name] in out["error"][k] and not out["crop"][k].any()
        else:
            gray = np.asarray(decode_image((tmp_path / name).read_bytes()).convert("L"))
            assert out["error"][k] == "" and np.abs(out["crop"][k].astype(int) - pil_crop(gray)).max() <= 1


def test_the_images_stage_still_imports_without_torch():
    code = "import sys, fer_platform.images.reading; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
