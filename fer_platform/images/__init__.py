"""Stage 1, images: emotion folders, manifests, safe decoding, face crops, change detection; ``landings/`` holds
what arrives from the source container (blob events, the Storage Queue, the ledger, landing into the image root)."""
