"""The geometric half of the seed transform (``Resize(256)`` then ``CenterCrop(224)``), batched on uint8 pixels.

Why: a Ray read task that resizes a whole batch at once with ``F.interpolate`` on uint8 (bilinear, antialiased:
torch's uint8 path follows PIL's fixed-point resampler) is about twice as fast per thread as one PIL transform per
image, and leaves the model actors nothing to do but normalize and run the network. Images of one size are resized
together; each size gets the output size torchvision gives it (shorter side 256, the longer one truncated like
``int(256 * long / short)``), so a non-square image is cut like the seed cuts it. The sizes mirror
``embeddings.model.SEED_TRANSFORM`` (the images stage may not import the embeddings stage): a test holds them equal.

torch is imported inside the function: only the embedding read tasks pay for it, not a scan's or a landing's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

RESIZE_SHORT = 256  # the seed transform's Resize(256): the shorter side, aspect ratio kept
CROP_SIDE = 224  # the seed transform's CenterCrop(224)


def resized_size(height: int, width: int, short: int = RESIZE_SHORT) -> tuple[int, int]:
    """(height, width) after ``Resize(short)``, computed exactly as torchvision does (why: any other rounding
    moves every pixel of a non-square image)."""
    small, large = (width, height) if width <= height else (height, width)
    new_small, new_large = short, int(short * large / small)
    return (new_large, new_small) if width <= height else (new_small, new_large)


def crop_offsets(height: int, width: int, side: int = CROP_SIDE) -> tuple[int, int]:
    """(top, left) of torchvision's ``CenterCrop(side)``: Python's round, so half offsets round to even."""
    return int(round((height - side) / 2.0)), int(round((width - side) / 2.0))


def resize_group(pixels: np.ndarray, short: int, side: int) -> np.ndarray:
    """Images of one size, (N, H, W) uint8, resized and center-cropped to (N, side, side) uint8 in one call."""
    import torch
    import torch.nn.functional as F

    height, width = pixels.shape[1:]
    size = resized_size(height, width, short)
    images = torch.from_numpy(np.ascontiguousarray(pixels))[:, None]
    if size != (height, width):  # torchvision hands an image already at size back untouched
        images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = crop_offsets(size[0], size[1], side)
    return images[:, 0, top : top + side, left : left + side].numpy()


def seed_crops(images: Sequence[np.ndarray], short: int = RESIZE_SHORT, side: int = CROP_SIDE) -> np.ndarray:
    """Grayscale uint8 images of any sizes, (N, side, side) uint8 in their order: each group of equal size is
    resized in one batched call (FER faces are all 48x48, so a batch of them is one call)."""
    out = np.empty((len(images), side, side), np.uint8)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, image in enumerate(images):
        groups.setdefault(image.shape, []).append(k)
    for members in groups.values():
        out[members] = resize_group(np.stack([images[k] for k in members]), short, side)
    return out
