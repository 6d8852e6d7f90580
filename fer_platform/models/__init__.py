"""Stage 5, models: emotion_model (a CNN on the faces) and emotion_classifier (a head on the seed's vectors),
their training, evaluation, promotion, and one registry with one rule for what is served."""
