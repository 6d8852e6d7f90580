"""Stage 5, models: emotion_classifier, emotion_model and the check that guards its promotion,
expression_vectors (its features of every stored image), the data-quality assets, their jobs and
``emotion_model_settings``."""
