"""Stage 5, models: emotion_model (a CNN on the faces) and emotion_classifier (a head on the seed's vectors).
At the root what every room uses (the faces as tensors, the networks, a trained model, the head, evaluation);
``training/`` how a model is trained, ``lifecycle/`` what happens to it after (registry, promotion, card,
tracking), ``quality/`` the data's own problems (split overlap, label issues); ``on_ray`` drives a Ray cluster."""
