"""Stage 3: source_images_blob, lakehouse_images, lakehouse_embeddings (Parquet) and their checks."""
