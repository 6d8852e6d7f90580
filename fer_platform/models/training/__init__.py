"""Training emotion_model: the recipe (``recipe``), the trainer (``train``), its schedules, augmentation and
per-epoch checkpoints."""
