"""The embedder resource: ResNet18 weights, device and batching from the settings."""

from pathlib import Path
from typing import Sequence

from dagster import ConfigurableResource
from pydantic import Field

from fer_platform.embeddings.embedder import EmbeddingResult, embed_files
from fer_platform.embeddings.model import LoadedModel, load_model


class ResNetEmbedder(ConfigurableResource):
    """The seed's ResNet18 feature extractor, batched (FER_WEIGHTS, FER_DEVICE, FER_BATCH_SIZE, FER_PRECISION)."""

    weights: str = Field(default="imagenet", description="imagenet, random, or a state_dict path.")
    device: str = Field(default="auto", description="auto, cpu or cuda.")
    batch_size: int = Field(default=64, description="Images per forward pass.")
    num_workers: int = Field(default=0, description="0: a decode thread; N: DataLoader processes.")
    precision: str = Field(default="fp32", description="fp32 (the seed's numbers) or bf16 (autocast, faster).")

    def model(self) -> LoadedModel:
        """The loaded model (cached per process)."""
        return load_model(self.weights, self.device, self.precision)

    def embed(self, paths: Sequence[Path]) -> EmbeddingResult:
        """Embed the files; undecodable ones come back as failures."""
        return embed_files(self.model(), paths, self.batch_size, self.num_workers)
