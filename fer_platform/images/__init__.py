"""Stage 1, images: emotion folders, manifests, safe decoding, face crops, change detection, landing."""
