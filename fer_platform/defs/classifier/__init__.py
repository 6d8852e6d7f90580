"""Models: emotion_classifier (trained on embeddings_table rows, versioned in the lake) and its job."""
