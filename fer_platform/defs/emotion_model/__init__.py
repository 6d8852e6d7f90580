"""Models: emotion_model (a CNN trained on the images, registered and promoted in the lake), the check that
guards its promotion, expression_vectors (its features of every stored image) and their jobs."""
