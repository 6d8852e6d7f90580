"""The seed's embedding model: ResNet18 with ``fc = Identity`` (512 floats), and its weights.

The model identity (architecture, weights, transform) is stored with every row,
so changing any of them re-embeds everything.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.error import URLError

import torch
from torchvision import models, transforms

log = logging.getLogger(__name__)

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# Bump when the preprocessing below changes: it is part of every stored row's model id.
TRANSFORM_VERSION = "gray3-r256-c224-imagenetnorm"
RANDOM_SEED = 0

SEED_TRANSFORM = transforms.Compose(
    [
        transforms.Grayscale(num_output_channels=3),
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]
)


class WeightsUnavailableError(RuntimeError):
    """The configured weights cannot be loaded; the message names the remedies."""


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class LoadedModel:
    """An eval-mode ResNet18 feature extractor on its device, with the identity stored per row."""

    module: torch.nn.Module
    model_id: str
    device: torch.device
    precision: str = "fp32"

    def autocast(self) -> torch.autocast:
        """bf16 autocast when asked for (about 2x on CPUs with AVX512-BF16, cosine to fp32 >= 0.9999)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    @property
    def is_random(self) -> bool:
        """True for the fixed-seed random weights used by tests and offline demos."""
        return random_weights(self.model_id)


def random_weights(model_id: str) -> bool:
    """True for the id of the fixed-seed random weights (FER_WEIGHTS=random)."""
    return "/random-" in model_id


def precision_of(model_id: str) -> str:
    """The precision a model id names (``fp32`` when it names none: the seed's)."""
    parts = model_id.split("/")
    return parts[3] if len(parts) > 3 else "fp32"


def settings_for(model_id: str | None) -> str:
    """The settings under which the platform loads the model that made ``model_id``: what an error about
    mismatched vectors tells a user to set (the inverse of ``load_model``'s id)."""
    parts = (model_id or "").split("/")
    if len(parts) < 3 or parts[0] != "resnet18-fc_identity":
        return "the settings that made it (its id is not one this platform writes)"
    source, precision = parts[1], precision_of(model_id or "")
    if source.startswith("random-"):
        weights = "FER_WEIGHTS=random"
    elif source == "imagenet1k_v1":
        weights = "FER_WEIGHTS=imagenet"
    else:
        weights = f"FER_WEIGHTS=<the state_dict file whose sha256 starts with {source.removeprefix('state_dict-')}>"
    return weights if precision == "fp32" else f"{weights} FER_PRECISION={precision}"


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is an error, not a silent fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("FER_DEVICE=cuda but torch sees no CUDA device; use FER_DEVICE=auto or cpu")
    return torch.device(device)


def imagenet_checkpoint_path() -> Path:
    """Where torchvision caches the ImageNet checkpoint (``$TORCH_HOME/hub/checkpoints``)."""
    url = models.ResNet18_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def imagenet_state_dict() -> dict:
    """torchvision's ImageNet weights, from its cache or downloaded when online."""
    try:
        return models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True)
    except (URLError, OSError) as exc:
        raise WeightsUnavailableError(
            f"ResNet18 ImageNet weights are not cached and cannot be downloaded ({exc}). "
            f"Either copy resnet18-f37072fd.pth to {imagenet_checkpoint_path()} "
            f"(or set TORCH_HOME to a folder holding hub/checkpoints/resnet18-f37072fd.pth), "
            f"or set FER_WEIGHTS=/path/to/resnet18_state_dict.pth. "
            f"FER_WEIGHTS=random runs with untrained weights (tests and demos only)."
        ) from exc


def file_state_dict(path: Path) -> tuple[dict, str]:
    """A state dict saved with ``torch.save``, and the first 16 hex digits of its sha256."""
    if not path.is_file():
        raise WeightsUnavailableError(
            f"FER_WEIGHTS={str(path)!r} is neither 'imagenet', 'random' nor an existing state_dict file"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsUnavailableError(f"cannot load state_dict {str(path)!r}: {exc}") from exc
    return state, digest


def build_resnet18(weights: str) -> tuple[torch.nn.Module, str]:
    """ResNet18 with ``fc = Identity`` in eval mode, and its model id, for ``FER_WEIGHTS``."""
    if weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            module = models.resnet18(weights=None)
        source = f"random-seed{RANDOM_SEED}"
        log.warning("FER_WEIGHTS=random: embeddings come from UNTRAINED weights (tests and demos only)")
        module.fc = torch.nn.Identity()
    else:
        module = models.resnet18(weights=None)
        module.fc = torch.nn.Identity()
        if weights == "imagenet":
            state, source = imagenet_state_dict(), "imagenet1k_v1"
        else:
            state, digest = file_state_dict(Path(weights).expanduser())
            source = f"state_dict-{digest}"
        # The classifier head is replaced anyway: accept state dicts saved with or without it.
        backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            module.load_state_dict(backbone)
        except RuntimeError as exc:
            raise WeightsUnavailableError(f"{weights!r} is not a ResNet18 state_dict: {exc}") from exc
    return module.eval(), f"resnet18-fc_identity/{source}/{TRANSFORM_VERSION}"


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 autocast on a CUDA device (a GPU's fast path) and fp32 elsewhere (the seed's numbers);
    resolved before the model id is built, so a stored id always names the precision that made its vectors."""
    if precision not in (*PRECISIONS, "auto"):
        raise ValueError(f"FER_PRECISION={precision!r} is not one of {', '.join(PRECISIONS)}, auto")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def load_model(weights: str, device: str, precision: str = "fp32") -> LoadedModel:
    """The model for ``(weights, device, precision)``, built once per process; ``auto`` device and precision are
    resolved first, so ``auto`` and what it resolves to share one model.

    Precision is part of the model id: bf16 vectors differ slightly from fp32
    ones, and one table never mixes the two.
    """
    target = resolve_device(device)
    return built_model(weights, str(target), resolve_precision(precision, target))


@lru_cache(maxsize=4)
def built_model(weights: str, device: str, precision: str) -> LoadedModel:
    """The model on a resolved device (``cpu``, ``cuda``...) at a resolved precision (``fp32`` or ``bf16``)."""
    module, model_id = build_resnet18(weights)
    target = torch.device(device)
    module = module.to(target, memory_format=torch.channels_last)
    suffix = "" if precision == "fp32" else f"/{precision}"
    return LoadedModel(module=module, model_id=model_id + suffix, device=target, precision=precision)


def normalize_crops(crops: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(N, H, W) uint8 grayscale crops, already resized and cropped (``images.reading.read_seed_crops``), as the
    model's (N, 3, H, W) float input on ``device``, channels_last: the seed transform's ``Grayscale(3)`` ->
    ``ToTensor`` -> ``Normalize`` in one fused multiply-add per pixel and channel.

    Why: the crops travel as uint8 (1 byte a pixel, not 12 as three float32 channels: 12x less object-store and
    host-to-device traffic), and the float work happens once, on the model's device."""
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    pixels = crops.to(device)[:, None].float()  # (N, 1, H, W): broadcast to the three channels below
    n, _, height, width = pixels.shape
    out = torch.empty((n, 3, height, width), device=device, memory_format=torch.channels_last)
    return torch.addcmul(-mean / std, pixels, 1.0 / (255.0 * std), out=out)
