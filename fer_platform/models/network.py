"""The networks ``emotion_model`` can train, all taking 40x40 grayscale crops of 48x48 FER faces.

``vgg`` is the VGG variant of Khaireddin & Chen, "Facial Emotion Recognition:
State of the Art Performance on FER2013" (arXiv:2105.03588, 73.28 % single-model
test accuracy): four stages of two 3x3 conv + BatchNorm + ReLU and a 2x2 max
pool (64, 128, 256, 512 channels), then two fully connected layers with dropout
0.2 and the classifier. One change: the fully connected layers have 1,024 units
instead of 4,096, because their output is the expression vector the platform
indexes and pgvector's HNSW indexes at most 2,000 dimensions. ``vgg_small`` is
the same network at half the width (32..256 channels, 512 units), the default on
a CPU where the full one trains at about 30 images/s. ``resnet18_imagenet``
fine-tunes the seed's ImageNet ResNet18 (the crop is upsampled to 224x224 and
repeated to three channels, as the seed feeds its backbone), worth it on a GPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from fer_platform.embeddings.model import IMAGENET_MEAN, IMAGENET_STD, build_resnet18

CROP = 40
ARCHITECTURES = ("vgg", "vgg_small", "resnet18_imagenet")
VGG_SHAPES = {"vgg": ((64, 128, 256, 512), 1024), "vgg_small": ((32, 64, 128, 256), 512)}
DROPOUT = 0.2


def resolve_arch(arch: str, device: torch.device) -> str:
    """The network ``auto`` stands for on this device."""
    if arch == "auto":
        return "vgg" if device.type == "cuda" else "vgg_small"
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown FER_MODEL_ARCH {arch!r}: use auto, {', '.join(ARCHITECTURES)}")
    return arch


def conv_stage(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
        nn.Conv2d(outputs, outputs, 3, padding=1),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class FerVgg(nn.Module):
    """Khaireddin & Chen's VGG; ``features`` is the penultimate layer (the expression vector)."""

    def __init__(self, classes: int, widths: tuple[int, ...], hidden: int):
        super().__init__()
        stages, channels = [], 1
        for width in widths:
            stages.append(conv_stage(channels, width))
            channels = width
        self.trunk = nn.Sequential(*stages)
        side = CROP // 2 ** len(widths)  # 40 -> 20 -> 10 -> 5 -> 2
        self.hidden = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, hidden),
            nn.Dropout(DROPOUT),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.Dropout(DROPOUT),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(hidden, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.trunk(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class FineTunedResNet(nn.Module):
    """The seed's ResNet18 backbone (``fc = Identity``, 512 features) with a new classifier."""

    def __init__(self, classes: int, weights: str | None):
        super().__init__()
        if weights is None:  # the weights come from a saved emotion model next
            self.backbone = models.resnet18(weights=None)
            self.backbone.fc = nn.Identity()
        else:
            self.backbone, _ = build_resnet18(weights)
        self.classifier = nn.Linear(512, classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)
        return self.backbone((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_network(arch: str, classes: int, weights: str | None = None) -> nn.Module:
    """A fresh network. ``weights`` (imagenet, random or a path; None before loading a saved model) is the
    starting point of ``resnet18_imagenet``'s backbone."""
    if arch in VGG_SHAPES:
        widths, hidden = VGG_SHAPES[arch]
        return FerVgg(classes, widths, hidden)
    if arch == "resnet18_imagenet":
        return FineTunedResNet(classes, weights)
    raise ValueError(f"unknown architecture {arch!r}: use {', '.join(ARCHITECTURES)}")
