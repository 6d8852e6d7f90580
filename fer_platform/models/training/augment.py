"""The training augmentation of Khaireddin & Chen (arXiv:2105.03588), applied to a whole batch at once.

Their torchvision pipeline, per image: RandomResizedCrop(48, scale=(0.8, 1.2)),
ColorJitter(brightness=0.5, contrast=0.5) with p=0.5, RandomAffine(translate=0.2)
with p=0.5, RandomHorizontalFlip, RandomRotation(10) with p=0.5, a 40x40 crop
and RandomErasing. Here each image draws the same random parameters, but the
geometric ones are composed into one affine matrix per image and applied with a
single ``grid_sample`` over the batch: per-image PIL calls would cost more than
the small network's forward pass on a CPU. Two documented simplifications: the
resized-crop area is drawn from [0.8, 1.0] (torchvision falls back to a centre
crop for areas above the image anyway), and training takes one random 40x40 crop
per image and epoch instead of all five (the same crops, five times cheaper).

Their augmentation was made for 300 epochs; a run that its budget ends after a few dozen (a CPU's 30 minutes)
spends those epochs fitting distortions it never gets the time to benefit from. So its strength, a factor on
every distortion's magnitude and on the erasing's probability, follows the run's length (``strength_for``,
FER_TRAIN_AUGMENT_STRENGTH unset): chosen on the real training faces (BENCHMARKS.md, "Augmentation fitted to the
epochs"), full at the paper's length. This is the idea of EfficientNetV2's progressive learning (Tan & Le 2021,
arXiv:2104.00298: weaker regularisation for a shorter or smaller training), applied per run.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fer_platform.models.network import CROP

SIZE = 48
FULL_STRENGTH_EPOCHS = 100  # a run of this many epochs or more augments at the paper's strength
MIN_STRENGTH = 0.25  # the floor, and the first epoch's strength (the run's length is fixed only after it)


def strength_for(epochs: int | None) -> float:
    """The strength a run of ``epochs`` epochs augments at: linear in its length up to ``FULL_STRENGTH_EPOCHS``,
    never below ``MIN_STRENGTH``; None (the first epoch, before the run's length is fixed) gives the floor, so a
    budget run and its repeat with FER_TRAIN_EPOCHS augment their first epoch alike."""
    if epochs is None:
        return MIN_STRENGTH
    return min(1.0, max(MIN_STRENGTH, epochs / FULL_STRENGTH_EPOCHS))


def uniform(low: float, high: float, n: int, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def happens(p: float, n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def geometry(n: int, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """One (2, 3) matrix per image mapping output crop coordinates to input ones (``affine_grid``'s theta); the
    resized crop's range, the rotation and the translation scale with ``strength``."""
    area = uniform(1.0 - 0.2 * strength, 1.0, n, generator)
    ratio = torch.exp(uniform(strength * math.log(3 / 4), strength * math.log(4 / 3), n, generator))
    scale_x, scale_y = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
    turn = 10 * strength
    angle = torch.where(happens(0.5, n, generator), uniform(-turn, turn, n, generator), torch.zeros(n)) * math.pi / 180
    move = 0.4 * strength
    shift = torch.where(happens(0.5, n, generator)[:, None], uniform(-move, move, 2 * n, generator).view(n, 2), 0.0)
    flip = torch.where(happens(0.5, n, generator), -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    linear = torch.stack(
        [torch.stack([cos * scale_x * flip, -sin * scale_y], 1), torch.stack([sin * scale_x * flip, cos * scale_y], 1)],
        1,
    )
    # The 40x40 crop: output coordinates cover 40/48 of the frame, centred at a random offset of 0..8 pixels.
    offset = (torch.randint(0, SIZE - CROP + 1, (n, 2), generator=generator).float() - (SIZE - CROP) / 2) / (SIZE / 2)
    crop = linear * (CROP / SIZE)
    translation = torch.einsum("nij,nj->ni", linear, offset) + shift
    return torch.cat([crop, translation[:, :, None]], dim=2)


def jitter(x: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Brightness and contrast factors in [1 - s/2, 1 + s/2] (s: ``strength``), for half the images."""
    n, low, high = x.shape[0], 1.0 - 0.5 * strength, 1.0 + 0.5 * strength
    apply = happens(0.5, n, generator).view(n, 1, 1, 1)
    brightness = uniform(low, high, n, generator).view(n, 1, 1, 1)
    contrast = uniform(low, high, n, generator).view(n, 1, 1, 1)
    x2 = x * brightness
    mean = x2.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(apply, ((x2 - mean) * contrast + mean).clamp(0, 1), x)


def erase(x: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """RandomErasing(p=0.5 s, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0), one rectangle per image."""
    n, _, h, w = x.shape
    area = uniform(0.02, 0.33, n, generator) * h * w
    ratio = torch.exp(uniform(math.log(0.3), math.log(3.3), n, generator))
    eh = torch.sqrt(area * ratio).round().clamp(1, h)
    ew = torch.sqrt(area / ratio).round().clamp(1, w)
    top = (torch.rand(n, generator=generator) * (h - eh + 1)).floor()
    left = (torch.rand(n, generator=generator) * (w - ew + 1)).floor()
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + ew).view(n, 1, 1))
    )
    mask = inside & happens(0.5 * strength, n, generator).view(n, 1, 1)
    return x.masked_fill(mask[:, None], 0.0)


def augment(faces: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """uint8 faces (N, 48, 48) -> augmented float crops (N, 1, 40, 40) in [0, 1]. ``strength`` scales every
    random distortion (1: the paper's; 0: only the flip and the random 40x40 crop); the random draws are the same
    at every strength, so 1.0 repeats the paper's exactly."""
    x = faces[:, None].float() / 255.0
    theta = geometry(len(faces), generator, strength)
    grid = F.affine_grid(theta, [len(faces), 1, CROP, CROP], align_corners=False)
    x = F.grid_sample(jitter(x, generator, strength), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return erase(x, generator, strength)
