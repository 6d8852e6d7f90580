"""The emotion CNN trained on the images: faces, network, augmentation, training, registry, promotion."""
