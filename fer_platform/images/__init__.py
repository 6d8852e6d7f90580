"""The image folders (stage 1): emotion folders, manifests, safe decoding, change detection, landing."""
