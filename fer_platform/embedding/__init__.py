"""The embedding model (stage 2): ResNet18 with fc = Identity, batched embedding, incremental planning."""
