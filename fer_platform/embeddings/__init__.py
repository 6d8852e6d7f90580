"""Stage 2, embeddings: the seed's ResNet18 (fc = Identity), batched embedding, incremental planning."""
