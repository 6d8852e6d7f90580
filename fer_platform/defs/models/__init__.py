"""Stage 5, models: emotion_classifier, emotion_model and the check that guards its promotion,
expression_vectors (its features of every stored image), their jobs and resource."""
