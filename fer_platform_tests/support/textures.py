"""Distinct 48x48 test images for the data-quality tests (unlike the synthetic faces, which share templates)."""

import numpy as np
from PIL import Image


def textures(count: int, seed: int) -> list[np.ndarray]:
    """Distinct smooth random 48x48 images (unlike the synthetic faces, which share templates)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(count, 12, 12)).astype(np.uint8)
    return [np.array(Image.fromarray(c).resize((48, 48), Image.BICUBIC)) for c in coarse]


def save(path, pixels: np.ndarray, fmt: str = "PNG", **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, fmt, **options)
