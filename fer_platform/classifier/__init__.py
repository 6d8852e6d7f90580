"""The emotion head (seed 002's fine-tuned model, as assets): trained on stored embeddings, versioned in the lake."""
