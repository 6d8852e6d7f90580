"""A trained emotion model: its network, class names and architecture, saved as one ``torch.save`` file.

Predictions use the recipe's test-time augmentation (Khaireddin & Chen): the ten
40x40 crops of the 48x48 face (four corners, centre, and their mirror images),
whose softmax outputs are averaged. The expression vector of a face is the mean
of the ten crops' penultimate features, L2-normalised for cosine search.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fer_platform.models.network import CROP, build_network

INFERENCE_BATCH = 256
CORNERS = ((0, 0), (0, 8), (8, 0), (8, 8), (4, 4))


class ModelFileError(ValueError):
    """A registered model file that cannot be loaded (corrupt, truncated, another format)."""


def ten_crops(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, 48, 48) float -> (N * 10, 1, 40, 40): five crops and their horizontal flips, image-major."""
    crops = [x[:, :, top : top + CROP, left : left + CROP] for top, left in CORNERS]
    crops += [c.flip(-1) for c in crops]
    return torch.stack(crops, dim=1).flatten(0, 1)


@dataclass
class EmotionModel:
    """An eval-mode network and what its outputs mean."""

    arch: str
    classes: list[str]
    network: nn.Module
    device: torch.device

    @torch.inference_mode()
    def infer(self, pixels: torch.Tensor, views: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, classes), expression vectors (N, features)) of uint8 faces (N, 48, 48), averaged over
        the ten crops (``views=10``) or from the centre crop alone (``views=1``: a tenth of the forwards, what
        training validates with every epoch)."""
        self.network.eval()
        probabilities, features = [], []
        for batch in pixels.split(INFERENCE_BATCH):
            faces = batch[:, None].float().div(255.0)
            top, left = CORNERS[-1]  # the centre
            crops = faces[:, :, top : top + CROP, left : left + CROP] if views == 1 else ten_crops(faces)
            crops = crops.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
                feature = self.network.features(crops).float()
                logits = self.network.classifier(feature).float()
            n = len(batch)
            probabilities.append(torch.softmax(logits, dim=1).view(n, views, -1).mean(dim=1).cpu())
            pooled = feature.view(n, views, -1).mean(dim=1)
            features.append(torch.nn.functional.normalize(pooled, dim=1).cpu())
        if not probabilities:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, self.feature_dim), np.float32)
        return torch.cat(probabilities).numpy(), torch.cat(features).numpy()

    @property
    def feature_dim(self) -> int:
        return self.network.classifier.in_features

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        state = {k: v.cpu() for k, v in self.network.state_dict().items()}
        torch.save({"arch": self.arch, "classes": self.classes, "state_dict": state}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, device: torch.device = torch.device("cpu")) -> EmotionModel:
        """Load a saved model; any defect of the file is a ``ModelFileError``."""
        try:
            saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            network = build_network(saved["arch"], len(saved["classes"]))
            network.load_state_dict(saved["state_dict"])
        except Exception as exc:  # torch raises many types for a damaged file
            raise ModelFileError(f"not a loadable emotion model ({type(exc).__name__}: {exc})") from exc
        return cls(saved["arch"], list(saved["classes"]), network.to(device).eval(), device)
