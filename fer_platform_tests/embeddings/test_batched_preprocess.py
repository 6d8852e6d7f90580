"""The Ray path's split of the seed transform (uint8 crops in the read tasks, one fused normalize in the actor)
gives the in-process vectors, on generated faces and on files of other sizes and modes."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from fer_platform.embeddings.embedder import embed_files
from fer_platform.embeddings.model import SEED_TRANSFORM, load_model, normalize_crops
from fer_platform.embeddings.on_ray import EmbedActor
from fer_platform.images.batched_resize import CROP_SIDE, RESIZE_SHORT
from fer_platform.images.reading import read_seed_crops
from fer_platform.sample_data import write_sample_dataset
from fer_platform_tests.support.bad_images import write_bad_files, write_unusual_good_files

MIN_COSINE = 0.9999


def test_the_read_tasks_sizes_are_the_seed_transforms():
    resize, crop = SEED_TRANSFORM.transforms[1], SEED_TRANSFORM.transforms[2]
    assert isinstance(resize, transforms.Resize) and resize.size == RESIZE_SHORT
    assert isinstance(crop, transforms.CenterCrop) and tuple(crop.size) == (CROP_SIDE, CROP_SIDE)


def test_fused_normalize_is_the_seed_transforms_tensor_half():
    generator = torch.Generator().manual_seed(0)
    crops = torch.randint(0, 256, (5, CROP_SIDE, CROP_SIDE), dtype=torch.uint8, generator=generator)
    tensor_half = transforms.Compose([transforms.Grayscale(3), *SEED_TRANSFORM.transforms[3:]])
    expected = torch.stack([tensor_half(Image.fromarray(c.numpy(), mode="L")) for c in crops])
    got = normalize_crops(crops, torch.device("cpu"))
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert (got - expected).abs().max() < 1e-5


@pytest.fixture
def actor():
    threads = torch.get_num_threads()
    yield EmbedActor("random", "cpu", "fp32", threads)
    torch.set_num_threads(threads)


def test_ray_path_vectors_are_the_in_process_ones(tmp_path, actor):
    write_sample_dataset(tmp_path, per_class=3, test_per_class=0, emotions=["happy", "sad"])
    paths = sorted(tmp_path.glob("train/*/*.png"))
    odd = tmp_path / "odd"
    paths += [odd / name for name in write_unusual_good_files(odd)]  # RGB, RGBA, palette, 16-bit, JPEG
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (70, 110, 3), dtype=np.uint8)).save(odd / "wide rgb.png")
    Image.fromarray(rng.uniform(0, 60000, (300, 200)).astype(np.float32), mode="F").save(odd / "tall float.tiff")
    paths += [odd / "wide rgb.png", odd / "tall float.tiff"]
    paths += [odd / name for name in write_bad_files(odd)]
    expected = embed_files(load_model("random", "cpu", "fp32"), paths, 8, 0)
    out = actor(read_seed_crops({"index": np.arange(len(paths)), "location": np.array([str(p) for p in paths])}))
    good = [k for k, error in enumerate(out["error"]) if not error]
    assert good == expected.indices and len(good) == len(paths) - len(expected.failures)
    a, b = expected.vectors, out["vector"][good]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= MIN_COSINE
    assert set(out["model_id"]) == {load_model("random", "cpu", "fp32").model_id}
