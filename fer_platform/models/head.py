"""A small MLP head on ResNet18 embeddings: fit, predict, evaluate. Deterministic for a given seed."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from fer_platform.models.evaluation import Evaluation, evaluate_probabilities

HIDDEN = 256
EPOCHS = 60
BATCH = 256
SEED = 0


@dataclass
class EmotionHead:
    """Standardization, the MLP, and the label of each output."""

    classes: list[str]
    mean: np.ndarray
    std: np.ndarray
    module: torch.nn.Module
    embedding_model_id: str

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(((np.atleast_2d(vectors) - self.mean) / self.std).astype(np.float32))
        with torch.inference_mode():
            return torch.softmax(self.module(x), dim=1).numpy()

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(
            {
                "classes": self.classes,
                "mean": torch.from_numpy(self.mean),
                "std": torch.from_numpy(self.std),
                "state_dict": self.module.state_dict(),
                "hidden": self.module[0].out_features,
                "embedding_model_id": self.embedding_model_id,
            },
            buffer,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> EmotionHead:
        saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        module = mlp(saved["mean"].numel(), saved["hidden"], len(saved["classes"]))
        module.load_state_dict(saved["state_dict"])
        return cls(
            list(saved["classes"]),
            saved["mean"].numpy(),
            saved["std"].numpy(),
            module.eval(),
            saved["embedding_model_id"],
        )


def mlp(inputs: int, hidden: int, outputs: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(hidden, outputs)
    )


def fit_head(
    vectors: np.ndarray,
    labels: list[str],
    embedding_model_id: str,
    seed: int = SEED,
    on_epoch: Optional[Callable[[int], None]] = None,
) -> EmotionHead:
    """Train on standardized embeddings with class-balanced cross-entropy (FER's disgust is rare)."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"training needs at least two emotions, got {classes}")
    index = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([index[label] for label in labels])
    mean, std = vectors.mean(axis=0), vectors.std(axis=0) + 1e-6
    x = torch.from_numpy(((vectors - mean) / std).astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    module = mlp(x.shape[1], HIDDEN, len(classes))
    counts = torch.bincount(y, minlength=len(classes)).float()
    loss_fn = torch.nn.CrossEntropyLoss(weight=counts.sum() / (len(classes) * counts))
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=1e-3)
    module.train()
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(y), generator=generator).split(BATCH):
            optimizer.zero_grad()
            loss_fn(module(x[batch]), y[batch]).backward()
            optimizer.step()
        if on_epoch:
            on_epoch(1)
    return EmotionHead(classes, mean, std, module.eval(), embedding_model_id)


def evaluate(head: EmotionHead, vectors: np.ndarray, labels: list[str]) -> Evaluation:
    """Metrics on labelled vectors; labels the head never saw count as errors."""
    return evaluate_probabilities(head.classes, labels, head.probabilities(vectors))
